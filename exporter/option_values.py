"""Flags from option tables, and one merge of flag over config over default into `Values`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Literal

from exporter.options import Kind, Option
from exporter.validate import Section

Source = Literal["flag", "config", "default"]
_MISSING = object()


def dest(plugin: str, option: Option) -> str:
    return f"{plugin}.{option.key}"


def add_flags(parser: argparse.ArgumentParser, plugin: str, title: str, options: Sequence[Option]) -> None:
    """One flag per option that has one, with `default=None` so that the config file can fill it."""
    group = parser.add_argument_group(plugin, title)
    for option in options:
        flag = option.flag_name(plugin)
        if flag is None:
            continue
        kind = option.kind
        repeat = "; repeatable" if kind.repeatable else ""
        help_text = f"{option.help} (default {option.shown_default()}{repeat})".replace("%", "%%")
        if kind.switch:
            group.add_argument(
                flag,
                dest=dest(plugin, option),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
            continue
        group.add_argument(
            flag,
            dest=dest(plugin, option),
            action="append" if kind.repeatable else "store",
            default=None,
            metavar=option.metavar or kind.flag_metavar(),
            help=help_text,
        )


class Values:
    """A plugin's options after the merge: the value, where it came from, and how to name it in a problem."""

    def __init__(self, plugin: str, options: Sequence[Option], problems: list[str]) -> None:
        self.plugin = plugin
        self.problems = problems
        self._options = {option.key: option for option in options}
        self._values: dict[str, Any] = {option.key: option.default for option in options}
        self._sources: dict[str, Source] = {option.key: "default" for option in options}
        self._refused: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def default(self, key: str) -> Any:
        return self._options[key].default

    def source(self, key: str) -> Source:
        return self._sources[key]

    def given(self, key: str) -> bool:
        """Whether a flag or the config file set it, even to a value that was refused."""
        return self._sources[key] != "default" or key in self._refused

    def refused(self, key: str) -> bool:
        return key in self._refused

    def path(self, key: str) -> str:
        return f"{self.plugin}.{key}"

    def where(self, key: str) -> str:
        """The flag when the value came from it, else the config path."""
        flag = self._options[key].flag_name(self.plugin)
        return flag if flag and self._sources[key] == "flag" else self.path(key)

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where(key)}: {message}")

    def record(self, key: str, value: Any, source: Source) -> None:
        self._values[key], self._sources[key] = value, source

    def refuse(self, key: str, where: str, message: str) -> None:
        self._refused.add(key)
        self.problems.append(f"{where}: {message}")


def merge(plugin: str, options: Sequence[Option], args: argparse.Namespace, section: Section) -> Values:
    """Flag beats config beats default; each option's config value is read and checked even when a flag
    wins (a known key, validated). Sub-sections are checked for unknown keys here."""
    values = Values(plugin, options, section.problems)
    sections: dict[str, Section] = {"": section}
    for option in options:
        if option.in_config:
            parent, _, leaf = option.key.rpartition(".")
            if parent not in sections:
                sections[parent] = _subsection(section, parent)
            raw = read(sections[parent], leaf)
            if raw is not _MISSING:
                try:
                    values.record(option.key, option.kind.from_config(raw), "config")
                except ValueError as exc:
                    values.refuse(option.key, values.path(option.key), str(exc))
        flag = option.flag_name(plugin)
        raw_flag = getattr(args, dest(plugin, option), None) if flag else None
        if raw_flag is not None and flag is not None:
            try:
                values.record(option.key, option.kind.from_flag(raw_flag), "flag")
            except ValueError as exc:
                values.refuse(option.key, flag, str(exc))
    for name, sub in sections.items():
        if name:
            sub.reject_unknown()
    return values


def _subsection(section: Section, dotted: str) -> Section:
    for part in dotted.split(".") if dotted else ():
        section = section.section(part)
    return section


def read(section: Section, key: str) -> Any:
    """The raw value under `key` (marked as read), or _MISSING; YAML's null counts as missing."""
    value = section.value(key)
    return _MISSING if value is None else value


def read_item(section: Section, key: str, kind: Kind, default: Any) -> Any:
    """One value of a list item (a tfserving target), read as options are; `default` if absent or refused."""
    raw = read(section, key)
    if raw is _MISSING:
        return default
    try:
        return kind.from_config(raw)
    except ValueError as exc:
        section.problem(key, str(exc))
        return default
