"""First-run helper for ``make run`` and the container: prepare config.yaml and the registration.

Exit status 0 means "ready, start the bridge"; 2-4 are the expected first-run stops (the
message says what to do next), 5-6 are errors. Messages name the commands of the launcher
(``MATRIX_MSN_LAUNCHER``: ``make``, ``docker`` or a plain ``python -m bridge``).

    python -m bridge.setup_local --config config.yaml --registration registration-generated.yaml
"""

from __future__ import annotations

from pathlib import Path
import argparse
import sys

from bridge import private_files, startup
from bridge.config import PLACEHOLDER_TOKEN, Config, base_config_path
from bridge.config_doc import ConfigFileError, read_document, reason

__all__ = ["main"]

EXIT_NEW_CONFIG = 2
EXIT_PLACEHOLDERS = 3
EXIT_NEW_REGISTRATION = 4
EXIT_MISMATCH = 5
EXIT_INVALID = 6


def _say(*lines: str) -> None:
    print("\n".join(lines), file=sys.stderr, flush=True)


def _next_time() -> str:
    match startup.launcher():
        case "make":
            return "run `make run` again"
        case "docker":
            return "start the container again"
    return "run this again"


def _new_config(config: Config, config_path: Path) -> int:
    example = config._example()
    if example is None:
        _say(f"The example configuration ({config.base_path}) is missing: reinstall matrix-msn.")
        return EXIT_INVALID
    docker = startup.launcher() == "docker"
    try:
        startup.create_config(config_path, example, docker=docker)
    except OSError as e:
        _say(f"Cannot create {config_path}: {reason(e)}.")
        return EXIT_INVALID
    where = f"{config_path} (the /data volume on the host)" if docker else str(config_path)
    _say(
        f"Created {where} from the example configuration. Edit it, then {_next_time()}:",
        "  homeserver.address  - URL the bridge uses to reach your homeserver "
        "(e.g. http://127.0.0.1:8008)",
        "  homeserver.domain   - your server name (the part after ':' in Matrix IDs)",
        "  appservice.address  - URL the homeserver uses to reach the bridge "
        + ("(e.g. http://matrix-msn:29340)" if docker else "(default http://localhost:29340)"),
        "  msn.server          - MSN server host:port (local Escargot: 127.0.0.1:1863);",
        "  msn.passport_url    - for MSNP8+ (Escargot: http://127.0.0.1:8081/login)",
        "  bridge.permissions  - who may use the bridge (replace the example.com entries)",
        "The database defaults to SQLite (appservice.database: sqlite:matrix-msn.db).",
    )
    return EXIT_NEW_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.setup_local", description="Prepare a local matrix-msn setup."
    )
    parser.add_argument("--config", "-c", default="config.yaml", type=Path)
    parser.add_argument("--registration", "-r", default="registration-generated.yaml", type=Path)
    args = parser.parse_args(argv)
    config_path: Path = args.config
    reg_path: Path = args.registration
    config = Config(str(config_path), str(reg_path), base_config_path())

    if not config_path.exists():
        return _new_config(config, config_path)
    try:
        startup.load_config(config, create=False)
    except startup.StartupError as e:
        _say(e.message)
        return EXIT_INVALID
    for warning in config.unknown_options():
        _say(f"Warning: {config_path}: {warning}")

    config._check_tokens = False
    problem = startup.config_problems(config)
    if problem is not None:
        lines = problem.message.splitlines()
        _say(*lines[:-1], f"Edit {config_path}, then {_next_time()}.")
        return EXIT_PLACEHOLDERS
    if any("example.com" in str(key) for key in (config["bridge.permissions"] or {})):
        _say(
            f"Note: bridge.permissions in {config_path} still lists example.com entries; "
            "replace them with your own users or domain."
        )

    if not reg_path.exists():
        config.generate_registration()
        try:
            private_files.prepare_private(reg_path)
            config.save()
        except (ConfigFileError, OSError) as e:
            _say(f"Could not write the registration: {e}")
            return EXIT_INVALID
        shown = reg_path if startup.launcher() == "docker" else reg_path.resolve()
        _say(
            f"Generated the appservice registration {shown}",
            f"(its tokens were also written to {config_path}).",
            "Add it to your homeserver (it is readable by its owner only; a homeserver running",
            "as another user needs read access), e.g. for Synapse in homeserver.yaml:",
            "  app_service_config_files:",
            f"    - {shown}"
            + (
                "  (the path where the homeserver sees this file)"
                if startup.launcher() == "docker"
                else ""
            ),
            f"then restart the homeserver and {_next_time()} to start the bridge.",
        )
        return EXIT_NEW_REGISTRATION

    if PLACEHOLDER_TOKEN in (config["appservice.as_token"], config["appservice.hs_token"]):
        _say(
            f"{config_path} has no appservice tokens but {reg_path} exists.",
            f"Delete {reg_path} and {_next_time()} to generate a new registration "
            "(and update it in the homeserver).",
        )
        return EXIT_MISMATCH
    try:
        _, registration = read_document(reg_path)
    except (OSError, ConfigFileError) as e:
        _say(f"Could not read {reg_path}: {e}")
        return EXIT_INVALID
    if (registration.get("as_token"), registration.get("hs_token")) != (
        config["appservice.as_token"],
        config["appservice.hs_token"],
    ):
        _say(
            f"The tokens in {reg_path} do not match {config_path}.",
            f"Delete {reg_path}, {_next_time()}, and install the new registration in the "
            "homeserver.",
        )
        return EXIT_MISMATCH
    return 0


if __name__ == "__main__":
    sys.exit(main())
