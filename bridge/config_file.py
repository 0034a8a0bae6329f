"""config.yaml as the user's file: read it, update it by editing its text, never mangle it.

mautrix updates a config by dumping the example with the user's values copied in, which loses the
user's comments, quoting and ``null`` s and silently drops every key the example does not have.
Here the user's text stays as it is: options the example has and the file lacks are inserted as
the example's own lines (with their comments), values the bridge must store (a generated key,
registration tokens, migrated values) are replaced in place, unknown keys are kept and reported
with the nearest known key. Every edit is checked by parsing the result before it is written.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
import copy
import difflib
import io
import json
import os
import re
import tempfile

from mautrix.util.config import BaseFileConfig, BaseMissingError, ConfigUpdateHelper, RecursiveDict
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

__all__ = [
    "ConfigFileError",
    "UserFileConfig",
    "display_path",
    "nearest_key",
    "read_document",
    "render_update",
    "unknown_paths",
    "write_atomic",
]

KeyPath = tuple[Any, ...]


class ConfigFileError(Exception):
    """config.yaml cannot be read, parsed or written; the message is one line for the user."""


def _yaml() -> YAML:
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
        raise ConfigFileError(f"{path} cannot be read: {_reason(e)}") from e
    return text, parse_document(text, str(path))


def parse_document(text: str, name: str) -> CommentedMap:
    try:
        doc = _yaml().load(text)
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


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


# region key paths


def display_path(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


def _walk(data: Mapping[Any, Any], path: KeyPath = ()) -> Iterator[KeyPath]:
    for key, value in data.items():
        yield (*path, key)
        if isinstance(value, Mapping):
            yield from _walk(value, (*path, key))


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _has(data: Any, path: KeyPath) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _plain(value: Any) -> Any:
    """A comparable plain-Python copy (ruamel's scalar subclasses compare by value anyway)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
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
    candidates = [display_path(p) for p in _walk(effective)]
    match = difflib.get_close_matches(display_path(path), candidates, n=1, cutoff=0.75)
    return match[0] if match else None


# endregion
# region text edits


_COMMENT = re.compile(r"^\s*#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank(line: str) -> bool:
    return not line.strip()


def _block(lines: list[str], key_line: int, key_col: int) -> tuple[int, int, bool]:
    """``[start, end)`` of a key's lines: its own comment lines above, the key, its value.

    The third item says whether a blank line precedes the block (kept when it is copied).
    """
    start = key_line
    while start > 0 and _COMMENT.match(lines[start - 1]) and _indent(lines[start - 1]) == key_col:
        start -= 1
    blank_before = start > 0 and _blank(lines[start - 1])
    end = key_line + 1
    for index in range(key_line + 1, len(lines)):
        line = lines[index]
        if _blank(line) or _COMMENT.match(line):
            continue
        indent = _indent(line)
        if indent > key_col or (indent == key_col and line.lstrip().startswith("- ")):
            end = index + 1
            continue
        break
    return start, end, blank_before


def _colon_end(line: str, col: int) -> int:
    """Index just after the ``:`` that ends the key starting at ``col``."""
    index = col
    if line[index : index + 1] in ('"', "'"):
        quote = line[index]
        index += 1
        while index < len(line):
            if line[index] == "\\" and quote == '"':
                index += 2
                continue
            if line[index] == quote:
                if quote == "'" and line[index + 1 : index + 2] == "'":
                    index += 2
                    continue
                break
            index += 1
    while index < len(line):
        if line[index] == ":" and line[index + 1 : index + 2] in ("", " ", "\t", "\n", "\r"):
            return index + 1
        index += 1
    raise ValueError("no ':' after the key")


def _scalar_end(line: str, col: int) -> int:
    """Index just after the one-line scalar starting at ``col``."""
    if line[col : col + 1] == '"':
        index = col + 1
        while index < len(line):
            if line[index] == "\\":
                index += 2
                continue
            if line[index] == '"':
                return index + 1
            index += 1
        raise ValueError("unterminated double-quoted scalar")
    if line[col : col + 1] == "'":
        index = col + 1
        while index < len(line):
            if line[index] == "'":
                if line[index + 1 : index + 2] == "'":
                    index += 2
                    continue
                return index + 1
            index += 1
        raise ValueError("unterminated single-quoted scalar")
    comment = line.find(" #", col)
    end = len(line.rstrip("\r\n")) if comment < 0 else comment
    return len(line[:end].rstrip())


def _scalar_text(value: Any, style: str) -> str:
    """YAML text for a scalar, in the quoting style the user's file used there."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if style == "'":
        return "'" + text.replace("'", "''") + "'"
    if style != '"' and _plain_ok(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or "\n" in text:
        return False
    try:
        loaded = YAML(typ="safe").load(f"k: {text}\n")
    except YAMLError:
        return False
    return isinstance(loaded, dict) and loaded.get("k") == text


def _dump_block(key: Any, value: Any, col: int, newline: str) -> list[str]:
    stream = io.StringIO()
    _yaml().dump({key: copy.deepcopy(_plain(value))}, stream)
    return [" " * col + line + newline for line in stream.getvalue().splitlines()]


@dataclass
class _Edit:
    line: int  # insert before / replace from this line
    end: int  # == line for a pure insertion
    order: int
    lines: list[str]


class _Renderer:
    def __init__(
        self, text: str, doc: CommentedMap, example_text: str, example: CommentedMap
    ) -> None:
        self.lines = text.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith(("\n", "\r")):
            self.lines[-1] += "\n"
        self.newline = "\r\n" if text.count("\r\n") > text.count("\n") // 2 > 0 else "\n"
        self.doc = doc
        self.example_lines = example_text.splitlines(keepends=True)
        self.example = example
        self.edits: list[_Edit] = []
        self.skipped: list[KeyPath] = []
        self.rewrite: list[KeyPath] = []

    def _map_col(self, mapping: CommentedMap) -> int | None:
        for key in mapping:
            return int(mapping.lc.key(key)[1])
        return None

    def insert(self, path: KeyPath, effective_parent: Mapping[Any, Any]) -> None:
        *parent_path, key = path
        parent = _get(self.doc, tuple(parent_path))
        example_parent = (
            _get(self.example, tuple(parent_path))
            if _has(self.example, tuple(parent_path))
            else None
        )
        if not isinstance(parent, CommentedMap) or not parent or parent.fa.flow_style():
            self.skipped.append(path)
            return
        if not isinstance(example_parent, CommentedMap) or key not in example_parent:
            # a key of a free-form map (e.g. bridge.permissions) set by the program: the
            # example has no lines for it, so the whole map is written out instead
            if parent_path and tuple(parent_path) not in self.rewrite:
                self.rewrite.append(tuple(parent_path))
            elif not parent_path:
                self.skipped.append(path)
            return
        col = self._map_col(parent)
        assert col is not None
        ex_line, ex_col = example_parent.lc.key(key)
        start, end, blank_before = _block(self.example_lines, ex_line, ex_col)
        shift = col - ex_col
        block: list[str] = []
        for line in self.example_lines[start:end]:
            body = line.rstrip("\r\n")
            if not body.strip():
                block.append(self.newline)
            elif shift >= 0:
                block.append(" " * shift + body + self.newline)
            else:
                block.append(body[min(-shift, _indent(body)) :] + self.newline)
        order = list(effective_parent)
        index = order.index(key)
        before = [k for k in order[:index] if k in parent]
        if before:
            prev = before[-1]
            p_line, p_col = parent.lc.key(prev)
            _, at, _ = _block(self.lines, p_line, p_col)
            if blank_before:
                block.insert(0, self.newline)
        else:
            first = next(iter(parent))
            f_line, f_col = parent.lc.key(first)
            at, _, _ = _block(self.lines, f_line, f_col)
            if blank_before:
                block.append(self.newline)
        self.edits.append(_Edit(at, at, len(self.edits), block))

    def replace(self, path: KeyPath, value: Any) -> None:
        *parent_path, key = path
        parent = _get(self.doc, tuple(parent_path))
        if not isinstance(parent, CommentedMap) or parent.fa.flow_style():
            self.skipped.append(path)
            return
        old = parent[key]
        k_line, k_col = parent.lc.key(key)
        line = self.lines[k_line]
        if isinstance(old, Mapping | list) or isinstance(value, Mapping | list):
            _, end, _ = _block(self.lines, k_line, k_col)
            self.edits.append(
                _Edit(k_line, end, len(self.edits), _dump_block(key, value, k_col, self.newline))
            )
            return
        colon = _colon_end(line, k_col)
        rest = line[colon:]
        stripped = rest.lstrip(" ")
        if old is None and (not stripped.strip() or stripped.startswith("#")):
            new = line[:colon] + " " + _scalar_text(value, "") + rest.rstrip("\r\n")
            if stripped.startswith("#"):
                new = line[:colon] + " " + _scalar_text(value, "") + " " + stripped.rstrip("\r\n")
            self.edits.append(_Edit(k_line, k_line + 1, len(self.edits), [new + self.newline]))
            return
        v_line, v_col = parent.lc.value(key)
        if v_line != k_line or stripped[:1] in ("|", ">"):
            _, end, _ = _block(self.lines, k_line, k_col)
            new = line[:colon] + " " + _scalar_text(value, "")
            self.edits.append(_Edit(k_line, end, len(self.edits), [new + self.newline]))
            return
        style = line[v_col : v_col + 1] if line[v_col : v_col + 1] in ('"', "'") else ""
        v_end = _scalar_end(line, v_col)
        new = line[:v_col] + _scalar_text(value, style) + line[v_end:]
        self.edits.append(_Edit(k_line, k_line + 1, len(self.edits), [new]))

    def text(self) -> str:
        lines = list(self.lines)
        for edit in sorted(self.edits, key=lambda e: (e.line, e.order), reverse=True):
            lines[edit.line : edit.end] = edit.lines
        return "".join(lines)


def _changes(
    effective: Mapping[Any, Any], user: Mapping[Any, Any], path: KeyPath = ()
) -> tuple[list[KeyPath], list[KeyPath]]:
    """(missing, changed): where the file lacks an option, where its value must change."""
    missing: list[KeyPath] = []
    changed: list[KeyPath] = []
    for key, value in effective.items():
        here = (*path, key)
        if key not in user:
            missing.append(here)
            continue
        mine = user[key]
        if isinstance(value, Mapping) and isinstance(mine, Mapping):
            more_missing, more_changed = _changes(value, mine, here)
            missing += more_missing
            changed += more_changed
        elif _plain(value) != _plain(mine):
            changed.append(here)
    return missing, changed


def render_update(
    text: str,
    doc: CommentedMap,
    example_text: str,
    example: CommentedMap,
    effective: Mapping[Any, Any],
) -> tuple[str | None, list[KeyPath]]:
    """The user's text with the options it lacks added and changed values replaced.

    Returns ``(None, [])`` when nothing needs to change and ``(text, skipped)`` otherwise, where
    ``skipped`` are options that could not be written (e.g. inside a flow-style mapping); the
    effective configuration still has them. Raises :class:`ConfigFileError` when the edited text
    would not parse back to the same configuration (then nothing may be written).
    """
    missing, changed = _changes(effective, doc)
    if not missing and not changed:
        return None, []
    skipped: list[KeyPath] = []
    rewrite: list[KeyPath] = []
    current_text, current = text, doc
    if missing:
        # first the example's lines for what is missing, then the values that must differ
        # from the example's (e.g. a generated key inside an inserted section)
        inserter = _Renderer(text, doc, example_text, example)
        for path in missing:
            inserter.insert(path, _get(effective, path[:-1]))
        skipped += inserter.skipped
        rewrite += inserter.rewrite
        if inserter.edits:
            current_text = inserter.text()
            try:
                current = parse_document(current_text, "the updated configuration")
            except ConfigFileError as e:
                raise ConfigFileError(f"updating the file would break it ({e})") from e
    _, changed = _changes(effective, current)
    replacer = _Renderer(current_text, current, example_text, example)
    for path in rewrite:
        replacer.replace(path, _get(effective, path))
    for path in changed:
        if any(path[: len(s)] == s for s in skipped + rewrite):
            continue
        try:
            replacer.replace(path, _get(effective, path))
        except ValueError:
            replacer.skipped.append(path)
    skipped += replacer.skipped
    new_text = replacer.text()
    if new_text == text:
        return None, skipped
    _verify(new_text, doc, effective, skipped, rewrite)
    return new_text, skipped


def _verify(
    new_text: str,
    doc: CommentedMap,
    effective: Mapping[Any, Any],
    skipped: list[KeyPath],
    rewritten: list[KeyPath],
) -> None:
    try:
        new = parse_document(new_text, "the updated configuration")
    except ConfigFileError as e:
        raise ConfigFileError(f"updating the file would break it ({e})") from e
    missing, changed = _changes(effective, new)
    wrong = [p for p in missing + changed if not any(p[: len(s)] == s for s in skipped)]
    lost = [
        p
        for p in unknown_paths(doc, effective)
        if not any(p[: len(r)] == r for r in rewritten)
        and (not _has(new, p) or _plain(_get(new, p)) != _plain(_get(doc, p)))
    ]
    if wrong or lost:
        names = ", ".join(display_path(p) for p in (wrong + lost)[:3])
        raise ConfigFileError(f"updating the file would change {names} unexpectedly")


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


# endregion
# region the config class


class _KeepingHelper(ConfigUpdateHelper):
    """``copy``/``copy_dict`` from the file's own data: explicit nulls count, nothing is shared
    with the file's document, and environment overrides are never written into the file."""

    def __init__(self, base: RecursiveDict[CommentedMap], source: CommentedMap) -> None:
        super().__init__(base, RecursiveDict(source, CommentedMap))
        self._raw = source

    def _lookup(self, path: str) -> tuple[bool, Any]:
        data: Any = self._raw
        key: str | None = path
        while key is not None:
            part, key = RecursiveDict.parse_key(key)
            if not isinstance(data, Mapping) or part not in data:
                return False, None
            data = data[part]
        return True, data

    def copy(self, from_path: str, to_path: str | None = None) -> None:
        found, value = self._lookup(from_path)
        if found:
            self.base[to_path or from_path] = copy.deepcopy(value)

    def copy_dict(
        self, from_path: str, to_path: str | None = None, override_existing_map: bool = True
    ) -> None:
        found, value = self._lookup(from_path)
        if not found or not isinstance(value, Mapping):
            return
        to_path = to_path or from_path
        if override_existing_map or to_path not in self.base:
            self.base[to_path] = CommentedMap()
        for key, item in value.items():
            self.base[to_path][key] = copy.deepcopy(item)


class UserFileConfig(BaseFileConfig):
    """A :class:`BaseFileConfig` whose ``update``/``save`` edit the user's file in place.

    ``update(save=False)`` computes the configuration in memory only; ``save()`` writes the
    edits (nothing when nothing changed) and raises :class:`ConfigFileError` when it cannot.
    """

    _text: str | None = None
    _doc: CommentedMap | None = None
    _example_text: str | None = None

    def load(self) -> None:
        self._text, self._doc = read_document(self.path)
        self._data = copy.deepcopy(self._doc)

    def _example(self) -> str | None:
        if self._example_text is None:
            if self.base_path.startswith("pkg://"):
                import pkgutil

                from yarl import URL

                url = URL(self.base_path)
                data = pkgutil.get_data(url.host or "", url.path)
                self._example_text = data.decode("utf-8") if data is not None else None
            else:
                try:
                    self._example_text = Path(self.base_path).read_text(encoding="utf-8")
                except OSError:
                    return None
        return self._example_text

    def load_base(self) -> RecursiveDict[CommentedMap] | None:
        text = self._example()
        if text is None:
            return None
        return RecursiveDict(parse_document(text, self.base_path), CommentedMap)

    def update(self, save: bool = True) -> None:
        base = self.load_base()
        if base is None:
            raise BaseMissingError("Can't update() without base config")
        source = self._doc if self._doc is not None else self._data
        self.do_update(_KeepingHelper(base, source))
        self._data = base._data
        if save:
            self.save()

    def unknown_options(self) -> list[str]:
        """One sentence per key of the file that is not an option (they stay in the file)."""
        if self._doc is None:
            return []
        out = []
        for path in unknown_paths(self._doc, self._data):
            name = display_path(path)
            near = nearest_key(path, self._data)
            if near:
                out.append(f"{name} is not an option — did you mean {near}? (kept, ignored)")
            else:
                out.append(f"{name} is not an option of this bridge (kept, ignored)")
        return out

    def pending_text(self) -> str | None:
        """What :meth:`save` would write, or None when the file needs no change."""
        if self._doc is None or self._text is None:
            stream = io.StringIO()
            _yaml().dump(self._data, stream)
            return stream.getvalue()
        example_text = self._example()
        if example_text is None:
            raise ConfigFileError(f"the example configuration ({self.base_path}) is missing")
        example = parse_document(example_text, self.base_path)
        new_text, _ = render_update(self._text, self._doc, example_text, example, self._data)
        return new_text

    def save(self) -> None:
        text = self.pending_text()
        if text is None:
            return
        try:
            write_atomic(self.path, text)
        except OSError as e:
            raise ConfigFileError(f"{self.path} cannot be written: {_reason(e)}") from e
        self._text = text
        self._doc = parse_document(text, self.path)


# endregion
