"""Typed reads from an MLflow JSON answer: each helper returns the type the API documents or raises
`Malformed` naming where in the answer the value sits (`registered_models[3].aliases[0].version`).

Unknown fields are ignored (newer servers add them); a missing or null optional field takes its default;
anything else of an unexpected type is malformed, at any depth, so no parser downstream ever sees it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Versions are int64 in MLflow's store; the float bound keeps the alias gauge's value exact.
MAX_VERSION = 2**53


class Malformed(Exception):
    """An answer whose shape or types are not what the API documents; the text names the path."""


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def as_object(value: Any, path: str) -> Obj:
    if not isinstance(value, dict):
        raise Malformed(f"{path or 'the body'} is {type_name(value)}, not an object")
    return Obj(value, path)


class Obj:
    """A JSON object and where it sits in the answer."""

    __slots__ = ("data", "path")  # one per entry of every answer: kept light

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _present(self, key: str, default: Any) -> Any:
        value = self.data.get(key)
        if value is None and default is None:
            raise Malformed(f"{self.at(key)} is missing")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        """A string; missing or null gives `default`, and without one a non-empty string is required."""
        value = self.data.get(key)
        if value.__class__ is str and value:
            return value  # the common case, in one test
        value = self._present(key, default)
        if value is None:
            return str(default)
        if not isinstance(value, str):
            raise Malformed(f"{self.at(key)} is {type_name(value)}, not a string")
        if not value and default is None:
            raise Malformed(f"{self.at(key)} is empty")
        return value

    def number(self, key: str, default: float | None = None, finite: bool = True) -> float:
        """A number (finite unless told otherwise); proto-JSON encoders may send 64-bit integers as
        decimal strings."""
        value = self._present(key, default)
        if value is None:
            return float(default or 0)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Malformed(f"{self.at(key)} is {type_name(value)}, not a number")
        try:
            number = float(value)
        except ValueError:
            raise Malformed(f"{self.at(key)} is the string {str(value)[:40]!r}, not a number") from None
        except OverflowError:  # an integer beyond any float
            raise Malformed(f"{self.at(key)} is a number beyond any float") from None
        if finite and not math.isfinite(number):
            raise Malformed(f"{self.at(key)} is {number}, not a finite number")
        return number

    def seconds(self, key: str, default: float | None = None) -> float:
        """Epoch milliseconds, as MLflow sends every timestamp, to seconds."""
        return self.number(key, default) / 1000.0

    def version(self, key: str) -> int:
        """A model version number: a decimal string as MLflow sends it (or a plain integer)."""
        value = self._present(key, None)
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit()) or len(value) > 16:
                raise Malformed(f"{self.at(key)} is the string {value[:40]!r}, not a version number")
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise Malformed(f"{self.at(key)} is {type_name(value)}, not a version number")
        if not 0 <= number <= MAX_VERSION:
            raise Malformed(f"{self.at(key)} is out of range for a version number")
        return number

    def obj(self, key: str) -> Obj:
        """A nested object, required."""
        return as_object(self._present(key, None), self.at(key))

    def optional_obj(self, key: str) -> Obj:
        """A nested object; missing or null reads as an empty one."""
        value = self.data.get(key)
        return Obj({}, self.at(key)) if value is None else as_object(value, self.at(key))

    def objects(self, key: str) -> list[Obj]:
        """A list of objects; missing or null reads as empty (MLflow sends `{}` for an empty result)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise Malformed(f"{self.at(key)} is {type_name(value)}, not a list")
        where = self.at(key)
        return [as_object(item, f"{where}[{index}]") for index, item in enumerate(value)]
