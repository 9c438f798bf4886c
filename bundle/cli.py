"""`mlobs-bundle`: check a site's bundle config in CI, or generate the bundle.

    mlobs-bundle check --config site.yaml     # one line per problem; exit 0 clean, 1 problems, 2 bad config
    mlobs-bundle generate --out build [--config site.yaml]

`check` generates the bundle into a temporary folder and runs, in order: config validation, our rule and
dashboard lints, `promtool check rules`, and `promtool test rules` with the boundary cases derived from the
site's own thresholds and durations (alerts/boundary.py) plus the hand-written cases shipped with the
package (alerts/rule_tests/), which are written for the default config and so run against its rules.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

import alerts
import dashboards
from alerts.boundary import promtool_tests
from alerts.lint import lint as lint_rules
from alerts.promtool import PromtoolMissingError, check_rules, run_tests, shipped_tests
from alerts.render import plain
from bundle import generate
from bundle.config import BundleConfigError, load
from bundle.output import dump_yaml, write_tree
from bundle.promql import UnknownMetricError
from bundle.schema import BundleConfig, check, from_dict, load_config
from dashboards.lint import lint as lint_dashboard
from servicemonitors.dashboards import ConfigMapTooLarge

PROG = "mlobs-bundle"


def config_problems(path: Path | None) -> tuple[BundleConfig | None, list[str]]:
    """The typed config, or every problem with it (one per key)."""
    try:
        data = load(path)
    except BundleConfigError as exc:
        return None, [str(exc)]
    try:
        cfg = from_dict(data)
    except (ValueError, TypeError) as exc:
        return None, [str(exc)]
    return cfg, check(cfg)


def lint_problems(cfg: BundleConfig) -> list[str]:
    problems = [f"rules: {p}" for p in lint_rules(alerts.build(cfg), cfg.naming.alert_prefix)]
    for board in dashboards.build(cfg):
        problems += [f"dashboard {board['uid']}: {p}" for p in lint_dashboard(board)]
    return problems


def promtool_problems(cfg: BundleConfig, folder: Path) -> list[str]:
    """promtool over the site's rules (check, derived cases) and the default rules (shipped cases)."""
    site, default = folder / "site", folder / "default"
    site.mkdir()
    default.mkdir()
    rules = dump_yaml(plain(alerts.build(cfg)))
    (site / "rules.yaml").write_text(rules, encoding="utf-8")
    problems = check_rules(site)
    if problems:
        return problems
    problems = run_tests(site, rules, promtool_tests(alerts.boundaries(cfg)))
    shipped = {name: yaml.safe_load(text) for name, text in shipped_tests().items()}
    default_rules = dump_yaml(plain(alerts.build(load_config())))
    return problems + [
        f"shipped cases (default config): {p}" for p in run_tests(default, default_rules, shipped)
    ]


def run_check(path: Path | None, out: Callable[[str], None]) -> int:
    cfg, problems = config_problems(path)
    where = str(path) if path else "bundle.yaml"
    for problem in problems:
        out(f"{where}: {problem}")
    if cfg is None or problems:
        return 2
    try:
        problems = lint_problems(cfg)
        with tempfile.TemporaryDirectory(prefix="mlobs-bundle-") as tmp:
            write_tree(Path(tmp) / "bundle", generate.render(cfg))
            problems += promtool_problems(cfg, Path(tmp))
    except (generate.BundleError, UnknownMetricError, ConfigMapTooLarge, PromtoolMissingError) as exc:
        problems = [str(exc)]
    for problem in problems:
        out(problem)
    if problems:
        return 1
    out(f"{PROG} check: {where}: OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="validate, lint and promtool-test the bundle of a config")
    checking.add_argument("--config", type=Path, help="partial bundle config overriding the defaults")
    generating = commands.add_parser("generate", help="write the bundle (same as python -m bundle.generate)")
    generating.add_argument("--out", required=True, type=Path, help="folder to write the bundle into")
    generating.add_argument("--config", type=Path, help="partial bundle config overriding the defaults")
    args = parser.parse_args(argv)
    if args.command == "generate":
        return generate.main(
            ["--out", str(args.out), *(["--config", str(args.config)] if args.config else [])]
        )
    return run_check(args.config, print)


if __name__ == "__main__":
    sys.exit(main())
