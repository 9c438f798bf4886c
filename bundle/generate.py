"""Generate the bundle: `python -m bundle.generate --out build [--config FILE]`.

Writes prometheus/rules.yaml (the plain rule file), kubernetes/*.yaml with a kustomization,
dashboards/<uid>.json, alertmanager/alertmanager.yaml and autoscaling/ (prometheus-adapter rules, an example
HPA). A bad config prints one line naming the key and exits 2 with nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import alerts
import dashboards
import servicemonitors
from alerts.lint import lint as lint_rules
from alerts.render import plain, prometheus_rule
from bundle.config import BundleConfigError
from bundle.output import dump_yaml, write_tree
from bundle.promql import UnknownMetricError
from bundle.schema import BundleConfig, load_config
from bundle.shipping import Shipping, load_shipping
from dashboards.lint import lint_all as lint_dashboards
from dashboards.queries import KnownSeries
from dashboards.style import to_json
from servicemonitors import alertmanager, autoscaling, web
from servicemonitors.alertmanager_config import alertmanager_config
from servicemonitors.dashboards import ConfigMapTooLarge


class BundleError(Exception):
    """The generated bundle breaks a convention: a bug in the generators, not in the config."""


def render(cfg: BundleConfig, shipping: Shipping | None = None) -> dict[str, str]:
    """Every output file (relative path -> text), checked by our own lints (`shipping`: bundle.yaml's)."""
    ship = shipping or load_shipping()
    groups = alerts.build(cfg)
    problems = lint_rules(groups, cfg.naming.alert_prefix)
    boards = dashboards.build(cfg)
    problems.extend(lint_dashboards(boards, KnownSeries(cfg)))
    if problems:
        raise BundleError("; ".join(problems))
    kube = {
        "prometheusrule.yaml": prometheus_rule(groups, cfg),
        **web.apply(cfg, ship.web, servicemonitors.objects(cfg, boards)),
        "alertmanagerconfig.yaml": alertmanager_config(cfg, ship.alertmanager),
    }
    files = {"prometheus/rules.yaml": dump_yaml(plain(groups))}
    files.update({f"kubernetes/{name}": dump_yaml(obj) for name, obj in kube.items()})
    files["kubernetes/kustomization.yaml"] = dump_yaml(servicemonitors.kustomization(kube))
    files.update({f"dashboards/{board['uid']}.json": to_json(board) for board in boards})
    files["alertmanager/alertmanager.yaml"] = dump_yaml(alertmanager.config(cfg, ship.alertmanager))
    files["autoscaling/prometheus-adapter-rules.yaml"] = dump_yaml(
        autoscaling.adapter_rules(cfg, ship.autoscaling)
    )
    files["autoscaling/hpa-example.yaml"] = dump_yaml(autoscaling.example_hpa(ship.autoscaling))
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bundle.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write the bundle into")
    parser.add_argument("--config", type=Path, help="partial bundle config overriding bundle/bundle.yaml")
    args = parser.parse_args(argv)
    try:
        files = render(load_config(args.config), load_shipping(args.config))
    except BundleConfigError as exc:
        print(f"bundle.generate: invalid config: {exc}", file=sys.stderr)
        return 2
    except (BundleError, UnknownMetricError, ConfigMapTooLarge) as exc:
        print(f"bundle.generate: {exc}", file=sys.stderr)
        return 1
    write_tree(args.out, files)
    print(f"bundle.generate: wrote {len(files)} files to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
