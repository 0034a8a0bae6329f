"""Edits of the user's config.yaml text that keep everything else byte for byte.

Options the file lacks are inserted as the example's own lines (comments included, at the file's
indentation, after the option that precedes them in the example); values that must change are
replaced in place in the quoting style the file used; a free-form map changed by the program is
written out whole. The result is parsed back and compared before anyone may write it.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping
from dataclasses import dataclass
import copy
import io
import json
import re

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from bridge.config_doc import (
    ConfigFileError,
    KeyPath,
    display_path,
    get,
    has,
    parse_document,
    plain,
    unknown_paths,
    yaml,
)

__all__ = ["render_update", "up_to_date"]

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
    yaml().dump({key: copy.deepcopy(plain(value))}, stream)
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
        parent = get(self.doc, tuple(parent_path))
        example_parent = (
            get(self.example, tuple(parent_path))
            if has(self.example, tuple(parent_path))
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
        parent = get(self.doc, tuple(parent_path))
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
        elif plain(value) != plain(mine):
            changed.append(here)
    return missing, changed


def up_to_date(effective: Mapping[Any, Any], doc: CommentedMap) -> bool:
    """Whether the user's file already holds every option with its effective value (then
    :func:`render_update` has nothing to do, and the example need not even be parsed)."""
    missing, changed = _changes(effective, doc)
    return not missing and not changed


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
            inserter.insert(path, get(effective, path[:-1]))
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
        replacer.replace(path, get(effective, path))
    for path in changed:
        if any(path[: len(s)] == s for s in skipped + rewrite):
            continue
        try:
            replacer.replace(path, get(effective, path))
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
        and (not has(new, p) or plain(get(new, p)) != plain(get(doc, p)))
    ]
    if wrong or lost:
        names = ", ".join(display_path(p) for p in (wrong + lost)[:3])
        raise ConfigFileError(f"updating the file would change {names} unexpectedly")
