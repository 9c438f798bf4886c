"""Config-file validation that reports every problem at once instead of stopping at the first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


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

    def has(self, key: str) -> bool:
        return key in self.data

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self._where(key)}: {message}")

    def string(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str) or not value:
            self.problem(key, f"must be a non-empty string, got {value!r}")
            return default
        if choices and value not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def number(self, key: str, default: float, minimum: float | None = None, positive: bool = False) -> float:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, f"must be a number, got {value!r}")
            return default
        if positive and value <= 0:
            self.problem(key, f"must be greater than 0, got {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(key, f"must be at least {minimum}, got {value!r}")
            return default
        return float(value)

    def integer(self, key: str, default: int, minimum: int | None = None) -> int:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be an integer, got {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(key, f"must be at least {minimum}, got {value!r}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false, got {value!r}")
            return default
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, f"must be a list of non-empty strings, got {value!r}")
            return default
        return tuple(value)

    def section(self, key: str) -> Section:
        value = self._get(key)
        return Section(None if value is _MISSING else value, self._where(key), self.problems)

    def sections(self, key: str) -> list[Section]:
        value = self._get(key)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.problem(key, f"must be a list, got {type(value).__name__}")
            return []
        return [Section(item, f"{self._where(key)}[{i}]", self.problems) for i, item in enumerate(value)]

    def reject_unknown(self) -> None:
        """Report keys nobody read: typos in a config file must not pass silently."""
        for key in self.data:
            if key not in self._seen:
                self.problem(str(key), "unknown key")
