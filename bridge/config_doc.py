"""config.yaml as a YAML document: parsed with positions, addressed by key paths, written
atomically. Errors are one-line :class:`ConfigFileError` messages for the user."""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator, Mapping
from pathlib import Path
import difflib
import os
import tempfile

from mautrix.util.config import ConfigValueError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = [
    "ConfigFileError",
    "KeyPath",
    "OptionError",
    "display_path",
    "nearest_key",
    "parse_document",
    "read_document",
    "reason",
    "unknown_paths",
    "write_atomic",
    "yaml",
]


class OptionError(ConfigValueError):
    """A placeholder ("is not configured") or a bad value ("is invalid") in config.yaml."""

    def __init__(self, key: str, message: str, invalid: bool = True) -> None:
        ValueError.__init__(
            self, f"{key} is {'invalid' if invalid else 'not configured'}: {message}"
        )
        self.key = key
        self.invalid = invalid


KeyPath = tuple[Any, ...]


class ConfigFileError(Exception):
    """config.yaml cannot be read, parsed or written; the message is one line for the user."""


def yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=4, sequence=4, offset=0)
    yaml.width = 4096
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def read_document(path: str | Path) -> tuple[str, CommentedMap]:
    """The file's text and its round-trip parse; :class:`ConfigFileError` says what is wrong."""
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigFileError(f"{path} cannot be read: {reason(e)}") from e
    return text, parse_document(text, str(path))


def parse_document(text: str, name: str) -> CommentedMap:
    try:
        doc = yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = e.problem or "invalid YAML"
        if e.context and e.context_mark is not None:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
        raise ConfigFileError(f"{name}{where}: {problem}; the file is not valid YAML") from e
    except YAMLError as e:
        raise ConfigFileError(f"{name}: not valid YAML: {e}") from e
    if doc is None:
        raise ConfigFileError(
            f"{name} is empty: delete it and the bridge writes the example configuration there"
        )
    if not isinstance(doc, CommentedMap):
        raise ConfigFileError(f"{name}: expected option: value lines at the top level")
    return doc


def reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__


def display_path(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


def walk(data: Mapping[Any, Any], path: KeyPath = ()) -> Iterator[KeyPath]:
    for key, value in data.items():
        yield (*path, key)
        if isinstance(value, Mapping):
            yield from walk(value, (*path, key))


def get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def has(data: Any, path: KeyPath) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def plain(value: Any) -> Any:
    """A comparable plain-Python copy (ruamel's scalar subclasses compare by value anyway)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def unknown_paths(user: Mapping[Any, Any], effective: Mapping[Any, Any]) -> list[KeyPath]:
    """Keys of the user's file that the update did not carry over: not options of the bridge."""
    found: list[KeyPath] = []

    def visit(mine: Mapping[Any, Any], known: Mapping[Any, Any], path: KeyPath) -> None:
        for key, value in mine.items():
            if key not in known:
                found.append((*path, key))
            elif isinstance(value, Mapping) and isinstance(known[key], Mapping):
                visit(value, known[key], (*path, key))

    visit(user, effective, ())
    return found


def nearest_key(path: KeyPath, effective: Mapping[Any, Any]) -> str | None:
    """The known option whose dotted name is closest to ``path``'s (None when nothing is close)."""
    candidates = [display_path(p) for p in walk(effective)]
    match = difflib.get_close_matches(display_path(path), candidates, n=1, cutoff=0.75)
    return match[0] if match else None


def write_atomic(path: str | Path, text: str) -> None:
    """Replace the file's contents at once, keeping its permissions (and owner, as root)."""
    target = Path(os.path.realpath(path))
    try:
        info: os.stat_result | None = target.stat()
    except FileNotFoundError:
        info = None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if info is not None:
            os.chmod(tmp, info.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(tmp, info.st_uid, info.st_gid)
        else:
            os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
