"""bridge.limits: the example config's values are the defaults, and a bad value is reported
with the other option problems, naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Config, base_config_path
from bridge.limits import Limits

EXAMPLE = Path(__file__).resolve().parents[2] / "example-config.yaml"


def example() -> Config:
    config = Config(str(EXAMPLE), "", base_config_path())
    config.load()
    return config


def test_the_example_config_holds_the_defaults() -> None:
    assert Limits.from_config(example()) == Limits()
    config = example()
    config["bridge.limits"] = None  # an old config without the section
    assert Limits.from_config(config) == Limits()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("event_queue", 0),
        ("event_queue", 2.5),
        ("group_rooms_per_contact", -1),
        ("group_rooms_window", "an hour"),
        ("display_name_interval", True),
        ("added_notice_interval", None),
    ],
)
def test_a_bad_value_is_an_option_problem(key: str, value: object) -> None:
    config = example()
    config[f"bridge.limits.{key}"] = value
    problems = [str(p) for p in config.invalid_values()]
    assert any(
        p.startswith(f"bridge.limits.{key} is invalid: It must be a positive") for p in problems
    ), problems


def test_good_values_are_taken() -> None:
    config = example()
    config["bridge.limits.event_queue"] = 50
    config["bridge.limits.group_rooms_window"] = 90
    limits = Limits.from_config(config)
    assert (limits.event_queue, limits.group_rooms_window) == (50, 90.0)
