"""Start-up errors: every way a start can fail becomes one or two lines that say what to do.

A :class:`StartupError` carries that message and the process exit code. It derives from
:class:`SystemExit` so that it passes through mautrix's ``except Exception`` handlers (which
would print a traceback); :func:`run` prints it and exits with its code. The exit codes are
part of the interface (README, ``--help``): scripts and service managers may rely on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import Callable
from pathlib import Path
import errno
import logging
import os
import shlex
import shutil
import signal
import sys

from mautrix.util.config import BaseMissingError

from bridge.config_doc import ConfigFileError, read_document, reason, write_atomic

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = [
    "EXIT_CODES",
    "StartupError",
    "config_problems",
    "create_config",
    "listen_error",
    "load_config",
    "python_command",
    "run",
]

EXIT_CONFIG_CREATED: Final = 10
EXIT_CONFIG: Final = 11
EXIT_INSTALLATION: Final = 12
EXIT_CONFIG_FILE: Final = 13
EXIT_REGISTRATION_FILE: Final = 14
EXIT_HOMESERVER: Final = 16
EXIT_NOT_REGISTERED: Final = 17
EXIT_HOMESERVER_VERSION: Final = 18
EXIT_APPSERVICE_UNREACHABLE: Final = 19
EXIT_LISTEN: Final = 20
EXIT_DATABASE: Final = 25
EXIT_INTERRUPTED: Final = 130

#: (code, meaning) for ``--help`` and the README.
EXIT_CODES: Final = (
    (0, "stopped normally (Ctrl-C or SIGTERM after start-up), or -g wrote the registration"),
    (EXIT_CONFIG_CREATED, "there was no config file: the example was written there; edit it"),
    (EXIT_CONFIG, "the config has placeholder or invalid values (all are listed)"),
    (EXIT_INSTALLATION, "the example config is missing from the installation"),
    (EXIT_CONFIG_FILE, "the config file cannot be read (bad YAML) or a needed change not saved"),
    (EXIT_REGISTRATION_FILE, "-g could not write the registration file"),
    (EXIT_HOMESERVER, "the homeserver is unreachable or homeserver.address is wrong"),
    (EXIT_NOT_REGISTERED, "the homeserver does not know this bridge (registration not installed)"),
    (EXIT_HOMESERVER_VERSION, "the homeserver is too old"),
    (EXIT_APPSERVICE_UNREACHABLE, "the homeserver cannot reach the bridge (appservice.address)"),
    (EXIT_LISTEN, "the bridge cannot listen on appservice.hostname/port (already running?)"),
    (EXIT_DATABASE, "the database cannot be opened or upgraded"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C) before the start-up finished"),
)

log = logging.getLogger("mau.init")


class StartupError(SystemExit):
    """A start-up failure the user can fix: ``message`` (one or two lines) and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message


def interrupted() -> StartupError:
    return StartupError("Interrupted before the bridge started.", EXIT_INTERRUPTED)


# region what to tell the user to run


def launcher() -> str:
    """How the bridge was started: ``make`` (make run), ``docker`` or ``plain``."""
    value = os.environ.get("MATRIX_MSN_LAUNCHER", "")
    return value if value in ("make", "docker") else "plain"


def python_command() -> str:
    """The interpreter to show in commands: ``python`` when that is this one on PATH."""
    executable = os.path.abspath(sys.executable)
    for name in ("python", "python3"):
        found = shutil.which(name)
        if found and os.path.abspath(found) == executable:
            return name
    try:
        relative = os.path.relpath(executable)
    except ValueError:
        return shlex.quote(executable)
    return shlex.quote(relative if not relative.startswith("..") else executable)


def bridge_command(*args: str) -> str:
    return " ".join([python_command(), "-m", "bridge", *(shlex.quote(a) for a in args)])


def start_again(config_path: str) -> str:
    """How to start the bridge again, for the end of a message."""
    match launcher():
        case "make":
            return "run `make run` again"
        case "docker":
            return "start the container again"
    args = [] if config_path == "config.yaml" else ["-c", config_path]
    return f"run `{bridge_command(*args)}` again"


def generate_command(config_path: str, registration_path: str) -> str:
    match launcher():
        case "make":
            return "`make run` writes it"
        case "docker":
            return "the container writes it when it starts"
    return f"`{bridge_command('-g', '-c', config_path, '-r', registration_path)}`"


# endregion
# region the config file


def create_config(path: Path, example_text: str, docker: bool = False) -> None:
    """Write the example configuration to ``path`` (which does not exist yet), 0600."""
    text = example_text
    if docker:
        # In a container the homeserver connects from outside: listen on all interfaces.
        section = text.find("\nappservice:\n")
        line = "\n    hostname: 127.0.0.1\n"
        at = text.find(line, section) if section >= 0 else -1
        if at >= 0:
            text = text[:at] + "\n    hostname: 0.0.0.0\n" + text[at + len(line) :]
    write_atomic(path, text)


def load_config(config: Config, create: bool) -> None:
    """Read and update ``config`` in memory (nothing is written), or raise StartupError.

    A missing file is created from the example when ``create`` is true.
    """
    path = Path(config.path)
    try:
        config.load()
    except FileNotFoundError:
        if not create:
            raise StartupError(
                f"{path} does not exist: {start_again(str(path))} without -g first to create it "
                "from the example",
                EXIT_CONFIG_FILE,
            ) from None
        example = config._example()
        if example is None:
            raise _installation_error(config) from None
        try:
            create_config(path, example, docker=launcher() == "docker")
        except OSError as e:
            raise StartupError(
                f"{path} does not exist and cannot be created ({reason(e)}): create it from "
                "the example configuration (example-config.yaml)",
                EXIT_CONFIG_FILE,
            ) from e
        raise StartupError(
            f"Wrote {path}, a copy of the example configuration. Edit it: homeserver.address, "
            "homeserver.domain, appservice.address, msn.server, msn.passport_url and "
            f"bridge.permissions; then generate the registration: "
            f"{generate_command(str(path), config.registration_path)}.",
            EXIT_CONFIG_CREATED,
        ) from None
    except ConfigFileError as e:
        raise StartupError(str(e), EXIT_CONFIG_FILE) from e
    try:
        config.update(save=False)
    except ConfigFileError as e:  # the example itself does not parse
        raise StartupError(str(e), EXIT_INSTALLATION) from e
    except BaseMissingError as e:
        raise _installation_error(config) from e
    except Exception as e:
        raise StartupError(
            f"{path} cannot be used: {e} (compare its layout with example-config.yaml)",
            EXIT_CONFIG_FILE,
        ) from e


def _installation_error(config: Config) -> StartupError:
    return StartupError(
        f"The example configuration ({config.base_path}) is missing: the installation is "
        "incomplete; reinstall matrix-msn (pip install .)",
        EXIT_INSTALLATION,
    )


def config_problems(config: Config, generating: bool = False) -> StartupError | None:
    """All placeholders and invalid values at once, plus missing optional dependencies."""
    lines = [str(problem) for problem in config.problems()]
    # python-olm, and what mautrix's crypto imports besides (base58 it does not declare)
    e2be_modules = ("olm", "base58", "Crypto", "unpaddedbase64")
    if config["bridge.encryption.allow"] and not all(map(_importable, e2be_modules)):
        lines.append(
            "bridge.encryption.allow is invalid: encryption needs the e2be extra "
            "(pip install 'matrix-msn[e2be]')"
        )
    database = str(config["appservice.database"] or "")
    for prefix, module, extra in (("postgres", "asyncpg", "postgres"), ("sqlite", "aiosqlite", "sqlite")):  # fmt: skip
        if database.startswith(prefix) and not _importable(module):
            lines.append(
                f"appservice.database is invalid: {prefix} needs the {extra} extra "
                f"(pip install 'matrix-msn[{extra}]')"
            )
    if not lines:
        return None
    only_tokens = all(line.startswith("appservice.as_token") for line in lines)
    if only_tokens:
        step = f"Generate the registration: {generate_command(config.path, config.registration_path)}."
    elif generating:
        step = f"Edit {config.path}, then run {generate_command(config.path, config.registration_path)} again."
    else:
        step = f"Edit {config.path}, then {start_again(config.path)}."
    return StartupError(
        "\n".join([f"{config.path} is not ready:", *(f"  {line}" for line in lines), step]),
        EXIT_CONFIG,
    )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def check_can_save(config: Config, no_update: bool) -> None:
    """A generated credential key must reach the file before anything is encrypted with it."""
    if not config.generated_credential_key:
        return
    path = Path(config.path)
    reason = None
    if no_update:
        reason = "--no-update was given"
    elif not os.access(path, os.W_OK) or not os.access(path.resolve().parent, os.W_OK):
        reason = f"{path} is read-only"
    if reason:
        raise StartupError(
            f"bridge.credential_key is empty and the generated key cannot be saved ({reason}); "
            "stored passwords would be unreadable after a restart. Put a key from "
            f"`{python_command()} -m bridge.credentials` in bridge.credential_key (or in "
            "BRIDGE_BRIDGE_CREDENTIAL_KEY).",
            EXIT_CONFIG_FILE,
        )


def save_config(config: Config) -> None:
    """Write the pending edits of config.yaml; only fatal when a generated key is unsaved."""
    try:
        config.save()
    except ConfigFileError as e:
        if config.generated_credential_key:
            raise StartupError(
                f"The generated bridge.credential_key could not be saved: {e}", EXIT_CONFIG_FILE
            ) from e
        log.warning("%s was not updated: %s", config.path, e)


def registration_file(config: Config, hint: str) -> str:
    """The registration file that belongs to this config (its as_token), for messages."""
    candidates = [Path(hint), Path("registration-generated.yaml"), Path("registration.yaml")]
    folder = Path(config.path).resolve().parent
    candidates += [folder / "registration-generated.yaml", folder / "registration.yaml"]
    for candidate in candidates:
        try:
            _, data = read_document(candidate)
        except (OSError, ConfigFileError):
            continue
        if data.get("as_token") == config["appservice.as_token"]:
            return str(candidate.resolve())
    return "the registration file written by -g"


# endregion
# region listening


def listen_error(error: OSError, host: str, port: int) -> StartupError:
    where = f"{host}:{port} (appservice.hostname and appservice.port)"
    if error.errno == errno.EADDRINUSE:
        return StartupError(
            f"Cannot listen on {where}: the address is already in use. Is the bridge already "
            "running? Otherwise pick a free appservice.port (and update appservice.address and "
            "the registration's url).",
            EXIT_LISTEN,
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return StartupError(
            f"Cannot listen on {where}: {host} is not an address of this machine "
            "(use 127.0.0.1, or 0.0.0.0 for all interfaces).",
            EXIT_LISTEN,
        )
    if error.errno == errno.EACCES:
        return StartupError(
            f"Cannot listen on {where}: permission denied (ports below 1024 need privileges; "
            "the default is 29340).",
            EXIT_LISTEN,
        )
    return StartupError(f"Cannot listen on {where}: {reason(error)}.", EXIT_LISTEN)


# endregion
# region running the program


def report(error: StartupError) -> None:
    """Print the message: through logging once it is set up, else on stderr."""
    if logging.getLogger().handlers:
        log.critical(error.message)
    else:
        print(error.message, file=sys.stderr, flush=True)


def run(program: Callable[[], None]) -> None:
    """Run mautrix's ``Program.run`` and turn start-up failures and Ctrl-C into clean exits."""
    try:
        program()
    except StartupError as e:
        report(e)
        if e.code == EXIT_INTERRUPTED:
            leave_now(e.code)
        sys.exit(e.code)
    except KeyboardInterrupt:
        # Ctrl-C before the event loop's own handlers were installed: nothing was started.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        report(interrupted())
        leave_now(EXIT_INTERRUPTED)


def leave_now(code: int) -> None:
    """Exit without waiting for other threads. An interrupt can land while the database is
    being opened, after aiosqlite started its worker thread (not a daemon) and before anyone
    holds the connection that would stop it: a normal exit then waits for that thread forever
    (seen in CI: the process outlived the test by minutes). Nothing else needs an orderly
    exit at this point: the start never finished, and SQLite is safe from a process that ends.
    (Also the way out on a second Ctrl-C while the bridge stops.)"""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# endregion
