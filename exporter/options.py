"""Plugin options declared once, as data: config key, flag, type, default, unit and help.

Flags, config validation, `--help`, docs/exporter.example.yaml and docs/exporter-config.md all come
from these declarations (exporter.option_values reads them, exporter.options_docs writes the docs).
A kind reads a value the same way from a flag and from the config file and raises ValueError with a
one-line reason; the caller prefixes the flag or config path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.durations import format_duration, seconds_of
from exporter.validate import shown


def _refused(reason: str, raw: object) -> ValueError:
    return ValueError(f"{reason}, got {shown(raw)}")


class Kind:
    """How a value is read from a flag and from the config file, and how the docs show it."""

    name = "string"  # the type column of the config reference, unless describe() says more
    metavar = "TEXT"  # the flag's value in --help, unless flag_metavar() says more
    repeatable = False  # the flag may be given again; its values form a list that replaces the config's
    switch = False  # a --x / --no-x flag
    flaggable = True

    def from_config(self, raw: object) -> Any:
        raise NotImplementedError

    def from_flag(self, raw: Any) -> Any:
        return self.from_config(raw)

    def describe(self) -> str:
        return self.name

    def flag_metavar(self) -> str:
        return self.metavar

    def show(self, value: Any) -> str:
        return "" if value is None else str(value)

    def example(self, value: Any) -> Any:
        """The value as docs/exporter.example.yaml writes it."""
        return value


@dataclass(frozen=True)
class Text(Kind):
    """A string; `choices` limit it, `rooted` asks for a leading / (paths)."""

    choices: tuple[str, ...] = ()
    rooted: bool = False

    def describe(self) -> str:
        return f"one of {', '.join(self.choices)}" if self.choices else "path" if self.rooted else "string"

    def flag_metavar(self) -> str:
        return "|".join(self.choices) if self.choices else "PATH" if self.rooted else "TEXT"

    def from_config(self, raw: object) -> str:
        if not isinstance(raw, str) or not raw:
            raise _refused("must be a non-empty string", raw)
        return self.from_flag(raw)

    def from_flag(self, raw: Any) -> str:
        if self.choices and raw not in self.choices:
            raise _refused(f"must be one of {', '.join(self.choices)}", raw)
        if self.rooted and not raw.startswith("/"):
            raise _refused("must start with /", raw)
        return str(raw)


@dataclass(frozen=True)
class Boolean(Kind):
    name = "boolean"
    metavar = ""
    switch = True

    def from_config(self, raw: object) -> bool:
        if not isinstance(raw, bool):
            raise _refused("must be true or false", raw)
        return raw

    def show(self, value: Any) -> str:
        return "" if value is None else "on" if value else "off"


@dataclass(frozen=True)
class Integer(Kind):
    minimum: int | None = None
    maximum: int | None = None
    name = "integer"
    metavar = "N"

    def describe(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"integer, {self.minimum} to {self.maximum}"
        return "integer" if self.minimum is None else f"integer, at least {self.minimum}"

    def from_config(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _refused("must be an integer", raw)
        if self.minimum is not None and raw < self.minimum:
            raise _refused(f"must be at least {self.minimum}", raw)
        if self.maximum is not None and raw > self.maximum:
            raise _refused(f"must be at most {self.maximum}", raw)
        return raw

    def from_flag(self, raw: Any) -> int:
        try:
            number = int(raw)
        except ValueError:
            raise _refused("must be an integer", raw) from None
        return self.from_config(number)


@dataclass(frozen=True)
class Duration(Kind):
    """Seconds, written `2s`, `500ms`, `1m`, `1h` or as a bare number, in flags and config alike."""

    positive: bool = True  # False: 0 is allowed (0 means "every time")
    name = "duration"
    metavar = "DURATION"

    def from_config(self, raw: object) -> float:
        try:
            seconds = seconds_of(raw)
        except ValueError as exc:
            raise _refused(str(exc), raw) from None
        if self.positive and seconds <= 0:
            raise _refused("must be greater than 0", raw)
        if seconds < 0:
            raise _refused("must not be negative", raw)
        return seconds

    def show(self, value: Any) -> str:
        return "" if value is None else format_duration(value)

    def example(self, value: Any) -> Any:
        return self.show(value)


@dataclass(frozen=True)
class Strings(Kind):
    """A list of non-empty strings; a repeated flag replaces the configured list."""

    name = "list of strings"
    metavar = "TEXT"
    repeatable = True

    def from_config(self, raw: object) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
            raise _refused("must be a list of non-empty strings", raw)
        return tuple(raw)

    def from_flag(self, raw: Any) -> tuple[str, ...]:
        empty = [item for item in raw if not item]
        if empty:
            raise _refused("must not be empty", "")
        return tuple(raw)

    def show(self, value: Any) -> str:
        return ", ".join(value) if value else "none"

    def example(self, value: Any) -> Any:
        return list(value)


@dataclass(frozen=True)
class Records(Kind):
    """A config-only list of mappings (each read by the plugin); more than `limit` is one problem."""

    limit: int
    fields: tuple[str, ...] = ()  # the keys of one item, for the docs
    name = "list of mappings"
    flaggable = False

    def describe(self) -> str:
        return f"list of mappings ({', '.join(self.fields)}), at most {self.limit}"

    def from_config(self, raw: object) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise ValueError(f"must be a list, got {type(raw).__name__}")
        if len(raw) > self.limit:
            raise ValueError(f"has {len(raw)} items, at most {self.limit} are allowed")
        return tuple(raw)

    def show(self, value: Any) -> str:
        return "none" if not value else str(len(value))

    def example(self, value: Any) -> Any:
        return list(value)


@dataclass(frozen=True)
class Option:
    """One setting of a plugin: `key` in its config section (dots descend), and usually a flag."""

    key: str
    kind: Kind
    default: Any
    help: str
    unit: str = ""
    flag: str | None = ""  # "": --<plugin>.<key with - for _>; None: config file only
    in_config: bool = True  # False: a flag only (its config form is another option, e.g. targets)
    default_text: str = ""  # shown instead of the default where that depends on something else
    example: Any = None  # docs/exporter.example.yaml shows this instead of the default, marked "example"
    commented: bool = False  # docs/exporter.example.yaml shows it commented out
    metavar: str = ""  # the flag's value in --help; the kind's (TEXT, DURATION, ...) unless given

    def flag_name(self, plugin: str) -> str | None:
        if self.flag is None or not self.kind.flaggable:
            return None
        return self.flag or f"--{plugin}.{self.key.replace('_', '-')}"

    def flag_names(self, plugin: str) -> tuple[str, ...]:
        """Every option string of the flag: both forms of a switch."""
        flag = self.flag_name(plugin)
        if flag is None:
            return ()
        return (flag, f"--no-{flag[2:]}") if self.kind.switch else (flag,)

    def shown_default(self, with_unit: bool = True) -> str:
        if self.default_text:
            return self.default_text
        text = self.kind.show(self.default) or "none"
        return f"{text} {self.unit}" if with_unit and self.unit and self.default is not None else text
