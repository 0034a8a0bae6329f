"""config.yaml as the user's file: mautrix's config class, updated by editing the file's text.

mautrix updates a config by dumping the example with the user's values copied in, which loses the
user's comments, quoting and ``null`` s and silently drops every key the example does not have.
Here ``update`` only computes the configuration in memory; ``save`` edits the user's text (see
:mod:`bridge.config_edit`), and unknown keys are kept and reported with the nearest option.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping
from pathlib import Path
import copy
import io

from mautrix.util.config import BaseFileConfig, BaseMissingError, ConfigUpdateHelper, RecursiveDict
from ruamel.yaml.comments import CommentedMap

from bridge.config_doc import (
    ConfigFileError,
    display_path,
    nearest_key,
    parse_document,
    read_document,
    reason,
    unknown_paths,
    write_atomic,
    yaml,
)
from bridge.config_edit import render_update, up_to_date

__all__ = ["UserFileConfig"]


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
            yaml().dump(self._data, stream)
            return stream.getvalue()
        if up_to_date(self._data, self._doc):
            # The usual restart: parsing the example alone would hold the event loop 40-70 ms.
            return None
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
            raise ConfigFileError(f"{self.path} cannot be written: {reason(e)}") from e
        self._text = text
        self._doc = parse_document(text, self.path)
