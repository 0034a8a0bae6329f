"""First-run helper for ``make run``: prepare config.yaml and the registration, or explain.

Exit status 0 means "ready, start the bridge"; anything else means the user has to act first
(the message says what to do).

    python -m bridge.setup_local --config config.yaml --registration registration-generated.yaml
"""

from __future__ import annotations

from pathlib import Path
import argparse
import shutil
import sys

from mautrix.util.config import ConfigValueError, yaml

from bridge.config import PLACEHOLDER_TOKEN, Config, base_config_path

__all__ = ["main"]

EXIT_NEW_CONFIG = 2
EXIT_PLACEHOLDERS = 3
EXIT_NEW_REGISTRATION = 4
EXIT_MISMATCH = 5
EXIT_INVALID = 6


def _example_path() -> Path:
    base = base_config_path()
    if base.startswith("pkg://"):
        return Path(__file__).resolve().parent / "example-config.yaml"
    return Path(base)


def _load(config_path: Path, registration_path: Path) -> Config:
    config = Config(str(config_path), str(registration_path), base_config_path())
    config.load()
    config.update(save=True)
    return config


def _say(*lines: str) -> None:
    print("\n".join(lines), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.setup_local", description="Prepare a local matrix-msn setup."
    )
    parser.add_argument("--config", "-c", default="config.yaml", type=Path)
    parser.add_argument("--registration", "-r", default="registration-generated.yaml", type=Path)
    args = parser.parse_args(argv)
    config_path: Path = args.config
    reg_path: Path = args.registration

    if not config_path.exists():
        shutil.copyfile(_example_path(), config_path)
        _say(
            f"Created {config_path} from the example configuration. Edit it, then run this again:",
            "  homeserver.address  - URL the bridge uses to reach your homeserver "
            "(e.g. http://127.0.0.1:8008)",
            "  homeserver.domain   - your server name (the part after ':' in user IDs)",
            "  appservice.address  - URL the homeserver uses to reach the bridge "
            "(default http://localhost:29340)",
            "  msn.server          - MSN server host:port (local Escargot: 127.0.0.1:1863);",
            "                        msn.passport_url for MSNP8+ (Escargot: "
            "http://127.0.0.1:8081/login)",
            "  bridge.permissions  - who may use the bridge (replace the example.com entries)",
            "The database defaults to SQLite (appservice.database: sqlite:matrix-msn.db).",
        )
        return EXIT_NEW_CONFIG

    try:
        config = _load(config_path, reg_path)
    except Exception as e:  # unreadable YAML etc.
        _say(f"Could not read {config_path}: {e}")
        return EXIT_INVALID

    config._check_tokens = False
    try:
        config.check_default_values()
    except ConfigValueError as e:
        _say(f"{config_path}: {e}", f"Edit {config_path} and run this again.")
        return EXIT_PLACEHOLDERS
    if any("example.com" in str(key) for key in (config["bridge.permissions"] or {})):
        _say(
            f"Note: bridge.permissions in {config_path} still lists example.com entries; "
            "replace them with your own users or domain."
        )

    if not reg_path.exists():
        config.generate_registration()
        config.save()
        _say(
            f"Generated the appservice registration {reg_path.resolve()}",
            "(the tokens were also written to the config).",
            "Add it to your homeserver, e.g. for Synapse in homeserver.yaml:",
            "  app_service_config_files:",
            f"    - {reg_path.resolve()}",
            "then restart the homeserver and start the bridge again (`make run`).",
        )
        return EXIT_NEW_REGISTRATION

    if PLACEHOLDER_TOKEN in (config["appservice.as_token"], config["appservice.hs_token"]):
        _say(
            f"{config_path} has no appservice tokens but {reg_path} exists.",
            f"Delete {reg_path} and run this again to generate a new registration "
            "(and update it in the homeserver).",
        )
        return EXIT_MISMATCH
    try:
        with open(reg_path) as stream:
            registration = yaml.load(stream) or {}
    except Exception as e:
        _say(f"Could not read {reg_path}: {e}")
        return EXIT_INVALID
    if (registration.get("as_token"), registration.get("hs_token")) != (
        config["appservice.as_token"],
        config["appservice.hs_token"],
    ):
        _say(
            f"The tokens in {reg_path} do not match {config_path}.",
            f"Delete {reg_path}, run this again, and install the new registration in the "
            "homeserver.",
        )
        return EXIT_MISMATCH
    return 0


if __name__ == "__main__":
    sys.exit(main())
