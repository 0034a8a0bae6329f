"""bridge.matrix_presence: the mapping of Matrix presence to MSN statuses, as configured, and
the checks of ``bridge.matrix_presence``."""

from __future__ import annotations

from mautrix.types import PresenceState

from bridge.matrix_presence import Settings, problems
from bridge.msnp.values import Status


def _config(**section: object) -> dict[str, object]:
    return {"bridge.matrix_presence": section}


def test_defaults_are_off_and_keep_the_status_when_offline() -> None:
    settings = Settings.of(_config())
    assert not settings.status and not settings.display_name
    assert settings.status_for(PresenceState.ONLINE) is Status.ONLINE
    assert settings.status_for(PresenceState.UNAVAILABLE) is Status.AWAY
    assert settings.status_for(PresenceState.OFFLINE) is None
    assert settings.status_for("busy-ish") is None  # unknown presence: nothing changes


def test_configured_mapping() -> None:
    settings = Settings.of(_config(status=True, unavailable="idle", offline="invisible"))
    assert settings.status
    assert settings.status_for(PresenceState.UNAVAILABLE) is Status.IDLE
    assert settings.status_for(PresenceState.OFFLINE) is Status.HIDDEN


def test_wrong_values_are_reported() -> None:
    assert problems(_config(unavailable="away", offline="keep")) == []
    found = dict(problems(_config(unavailable="brb", offline="hidden")))
    assert set(found) == {"bridge.matrix_presence.unavailable", "bridge.matrix_presence.offline"}
    assert "away or idle" in found["bridge.matrix_presence.unavailable"]
