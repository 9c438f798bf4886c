"""Config-file validation that reports every problem at once instead of stopping at the first."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any

from exporter.textsafe import safe_text

_MISSING = object()
# Values echoed in problems are cut: a megabyte string or a YAML alias bomb must not become the message.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 2, 4, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


def shown(value: Any) -> str:
    """A config value as a problem message shows it: repr, bounded in length and depth, printable."""
    return safe_text(_REPR.repr(value), 120)


class Section:
    """A typed view of one mapping in the config file; problems go to a shared list, named by path."""

    def __init__(self, data: Any, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            problems.append(f"{path or 'config'}: must be a mapping, got {type(data).__name__}")
            data = {}
        self.data: Mapping[str, Any] = data
        self._seen: set[str] = set()

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        return self.data.get(key, _MISSING)

    def value(self, key: str) -> Any:
        """The raw value, marked as read; None when absent."""
        value = self._get(key)
        return None if value is _MISSING else value

    def has(self, key: str) -> bool:
        return key in self.data

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self._where(key)}: {message}")

    def string(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str) or not value:
            self.problem(key, f"must be a non-empty string, got {shown(value)}")
            return default
        if choices and value not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}, got {shown(value)}")
            return default
        return value

    def number(self, key: str, default: float, minimum: float | None = None, positive: bool = False) -> float:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"must be a number, got {shown(value)}")
            return default
        if not math.isfinite(value):  # as the flags: a NaN timeout would fail every scrape
            self.problem(key, f"must be a finite number, got {value!r}")
            return default
        if positive and value <= 0:
            self.problem(key, f"must be greater than 0, got {shown(value)}")
            return default
        if minimum is not None and value < minimum:
            self.problem(key, f"must be at least {minimum}, got {shown(value)}")
            return default
        return float(value)

    def integer(self, key: str, default: int, minimum: int | None = None) -> int:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be an integer, got {shown(value)}")
            return default
        if minimum is not None and value < minimum:
            self.problem(key, f"must be at least {minimum}, got {shown(value)}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false, got {shown(value)}")
            return default
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, f"must be a list of non-empty strings, got {shown(value)}")
            return default
        return tuple(value)

    def section(self, key: str) -> Section:
        value = self._get(key)
        return Section(None if value is _MISSING else value, self._where(key), self.problems)

    def sections(self, key: str, limit: int | None = None) -> list[Section]:
        """The mappings of a list, each a Section; more than `limit` items is one problem, none read."""
        value = self._get(key)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.problem(key, f"must be a list, got {type(value).__name__}")
            return []
        if limit is not None and len(value) > limit:
            self.problem(key, f"has {len(value)} items, at most {limit} are allowed")
            return []
        return [Section(item, f"{self._where(key)}[{i}]", self.problems) for i, item in enumerate(value)]

    def reject_unknown(self) -> None:
        """Report keys nobody read: typos in a config file must not pass silently."""
        for key in self.data:
            if key not in self._seen:
                self.problem(safe_text(str(key), 60), "unknown key")
