"""Flags and the config file merged into one validated `Settings`, with every problem reported at once."""

from __future__ import annotations

import argparse
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from exporter import __version__
from exporter.logs import LEVELS
from exporter.option_values import add_flags, merge
from exporter.options import Integer
from exporter.plugin import Plugin
from exporter.plugin_order import build_order, missing_requirements
from exporter.textsafe import safe_text
from exporter.validate import Section
from exporter.webconfig import WebConfigError
from exporter.webconfig_reload import WebConfigFile, add_flag, open_web_config

DEFAULT_PORT = 9847
DEFAULT_MAX_REQUESTS = 40
MAX_REQUESTS = Integer(minimum=1, maximum=10_000)
# A config file is a few kilobytes; a bigger one is a mistake (or an attack) that would stall the start.
MAX_CONFIG_BYTES = 1024 * 1024
_ADDRESS = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})$")


class ConfigError(Exception):
    """Invalid flags or config file; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class Settings:
    listen_host: str
    listen_port: int
    telemetry_path: str
    log_level: str
    log_format: str
    node_name: str
    max_requests: int = DEFAULT_MAX_REQUESTS
    # --web.config.file, followed for changes; None: plain HTTP, no authentication.
    web_config: WebConfigFile | None = None
    # Enabled collectors only, in build order (exporter.plugin_order): name -> that plugin's settings.
    collectors: dict[str, Any] = field(default_factory=dict)
    # Not problems, but worth a log line at start (flags of collectors that are off).
    warnings: list[str] = field(default_factory=list)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # collect instead of exiting on the first problem
        raise ConfigError([message])


def build_parser(plugins: Sequence[Plugin]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlobs-exporter",
        description="Prometheus exporter for GPUs (NVML), TF Serving and MLflow.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"mlobs-exporter {__version__}")
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help=f"host:port to listen on (default :{DEFAULT_PORT})",
    )
    parser.add_argument(
        "--web.telemetry-path", dest="telemetry_path", default="/metrics", help="path of the metrics page"
    )
    parser.add_argument(
        "--web.max-requests",
        dest="max_requests",
        default=str(DEFAULT_MAX_REQUESTS),
        help=f"requests answered at once; more wait in a bounded queue, beyond it 503 "
        f"(default {DEFAULT_MAX_REQUESTS})",
    )
    add_flag(parser)
    parser.add_argument("--config.file", dest="config_file", default=None, help="YAML config file")
    parser.add_argument("--log.level", dest="log_level", default="info", help="|".join(LEVELS))
    parser.add_argument("--log.format", dest="log_format", default="logfmt", help="logfmt|json")
    for plugin in plugins:
        parser.add_argument(
            f"--collector.{plugin.name}",
            dest=f"collector_{plugin.name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"{plugin.description} (default {'on' if plugin.default_enabled else 'off'})",
        )
    for plugin in plugins:
        add_flags(parser, plugin.name, plugin.description, plugin.options)
    return parser


def plugin_flags(plugins: Sequence[Plugin]) -> dict[str, set[str]]:
    """Each plugin's own option strings (`--gpu.backend`, `--no-gpu.xid-events`, ...), by plugin name."""
    return {
        plugin.name: {flag for option in plugin.options for flag in option.flag_names(plugin.name)}
        for plugin in plugins
    }


def _ignored_flags(argv: Sequence[str], plugins: Sequence[Plugin], enabled: set[str]) -> list[str]:
    """One warning naming the flags given for collectors that are off: they do nothing."""
    owners = {flag: name for name, flags in plugin_flags(plugins).items() for flag in flags}
    ignored: dict[str, str] = {}
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if flag in owners and owners[flag] not in enabled:
            ignored.setdefault(flag, owners[flag])
    if not ignored:
        return []
    listing = ", ".join(f"{flag} (--collector.{name} is off)" for flag, name in ignored.items())
    return [f"flags of disabled collectors are ignored: {listing}"]


def parse_listen_address(value: str) -> tuple[str, int]:
    match = _ADDRESS.match(value)
    if not match or not 0 <= int(match["port"]) <= 65535:
        raise ValueError(f"--web.listen-address: {value!r} is not host:port (e.g. :{DEFAULT_PORT})")
    return (match["v6"] or match["host"] or "0.0.0.0"), int(match["port"])


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: YAML keeps the last one, silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {safe_text(repr(key), 60)}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def read_config_text(path: str) -> str:
    """The file's text; ValueError (a reason for a person) for a FIFO, a device, too big or not UTF-8."""
    # O_NONBLOCK: opening a FIFO without a writer must not hang the start (it is refused below).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"is not UTF-8 text (line {line})") from None


def load_config_file(path: str | None, problems: list[str]) -> Any:
    if path is None:
        return {}
    shown = safe_text(path, 200)
    try:
        return yaml.load(read_config_text(path), Loader=_UniqueKeyLoader) or {}
    except OSError as exc:
        problems.append(f"--config.file: cannot read {shown}: {exc.strerror}")
    except ValueError as exc:
        problems.append(f"--config.file: {shown} {exc}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        reason = getattr(exc, "problem", None)
        detail = f": {safe_text(reason, 100)}" if reason else ""
        problems.append(f"--config.file: {shown}{where} is not valid YAML{detail}")
    return {}


def parse(argv: Sequence[str], environ: Mapping[str, str], plugins: Sequence[Plugin]) -> Settings:
    """Parse flags, read the config file, validate everything; raise ConfigError listing all problems."""
    parser = build_parser(plugins)
    problems: list[str] = []
    try:
        args, unknown = parser.parse_known_args(list(argv))
    except ConfigError as exc:
        raise ConfigError(exc.problems) from None
    problems.extend(f"unknown flag {flag}" for flag in unknown)

    try:
        host, port = parse_listen_address(args.listen_address)
    except ValueError as exc:
        problems.append(str(exc))
        host, port = "", 0
    if not args.telemetry_path.startswith("/") or args.telemetry_path in ("/", "/health"):
        problems.append(
            f"--web.telemetry-path: {args.telemetry_path!r} must start with / and not be / or /health"
        )
    if args.log_level not in LEVELS:
        problems.append(f"--log.level: {args.log_level!r} is not one of {', '.join(LEVELS)}")
    if args.log_format not in ("logfmt", "json"):
        problems.append(f"--log.format: {args.log_format!r} is not logfmt or json")
    max_requests = _max_requests(args.max_requests, problems)
    web_config = _web_config(args.web_config_file, problems)

    root = Section(load_config_file(args.config_file, problems), "", problems)
    enabled_section = root.section("collectors")
    enabled: set[str] = set()
    for plugin in plugins:
        flag = getattr(args, f"collector_{plugin.name}")
        from_file = enabled_section.boolean(plugin.name, plugin.default_enabled)
        if from_file if flag is None else flag:
            enabled.add(plugin.name)
    configured: dict[str, Any] = {}
    for plugin in plugins:
        section = root.section(plugin.name)
        values = merge(plugin.name, plugin.options, args, section)
        configured[plugin.name] = plugin.configure(values, environ, plugin.name in enabled)
        section.reject_unknown()
    problems.extend(missing_requirements(plugins, enabled))
    enabled_section.reject_unknown()
    root.reject_unknown()
    collectors = {
        plugin.name: configured[plugin.name] for plugin in build_order(plugins) if plugin.name in enabled
    }
    if problems:
        raise ConfigError(problems)
    return Settings(
        listen_host=host,
        listen_port=port,
        telemetry_path=args.telemetry_path,
        log_level=args.log_level,
        log_format=args.log_format,
        node_name=environ.get("NODE_NAME", ""),
        max_requests=max_requests,
        web_config=web_config,
        collectors=collectors,
        warnings=_ignored_flags(argv, plugins, set(collectors)),
    )


def _web_config(path: str | None, problems: list[str]) -> WebConfigFile | None:
    try:
        return open_web_config(path)
    except WebConfigError as exc:  # already names the file
        problems.append(f"--web.config.file: {exc}")
        return None


def _max_requests(text: str, problems: list[str]) -> int:
    """--web.max-requests, read as every integer option is (exporter/options.py)."""
    try:
        return MAX_REQUESTS.from_flag(text)
    except ValueError as exc:
        problems.append(f"--web.max-requests: {exc}")
        return DEFAULT_MAX_REQUESTS
