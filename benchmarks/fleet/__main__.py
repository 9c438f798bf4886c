"""`python -m benchmarks.fleet` (make bench-fleet): the bundle's rules and dashboards on a synthetic fleet in
a real Prometheus and a real VictoriaMetrics, at 100, 300 and 1,000 GPU nodes (8 GPUs each) and 200 models.

Prints, per size: the cardinality (series per GPU, per served model version, in total), preparation times,
each rule group's slowest of three evaluations on Prometheus and on vmalert, both engines' memory, and every
dashboard panel's query time over the dashboards' default range and over 7 days, slowest first; `>1s` marks
what is over target.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

import alerts
import dashboards
from benchmarks.fleet import compare, measure, stack
from benchmarks.fleet.engines import EVALUATION_INTERVAL, Engine
from benchmarks.fleet.generate import ClusterHistory
from benchmarks.fleet.shape import Faults, Fleet
from bundle.schema import BundleConfig, duration_seconds, load_config
from dashboards.queries import panel_queries

TARGET_SECONDS = 1.0


def cardinality(fleet: Fleet) -> dict[str, float]:
    """Series of one cluster: in total, per GPU, per served model version (all its pods), per registry
    model."""
    one_sample = Fleet(fleet.clusters, fleet.nodes, fleet.models, 0, fleet.step, fleet.end)
    counts: Counter[str] = Counter()
    for entity in ClusterHistory(one_sample, 0, Faults(since=fleet.end + 86400)).entities():
        for prefix, _ in entity.series:
            counts["total"] += 1
            if 'gpu="' in prefix:
                counts["gpu"] += 1
            elif 'model="' in prefix and "mlobs-exporter-cluster" in prefix:
                counts["registry"] += 1
            elif 'model="' in prefix:
                counts["serving"] += 1
    return {
        "total": counts["total"],
        "per GPU": counts["gpu"] / (fleet.nodes * fleet.gpus_per_node),
        f"per served model ({fleet.pods_per_model} pods)": counts["serving"] / fleet.models,
        "per registry model": counts["registry"] / fleet.models,
    }


def _mark(seconds: float | None) -> str:
    if seconds is None:
        return f"{'-':>10}"
    return f"{seconds:8.3f} s{' >1s' if seconds >= TARGET_SECONDS else ''}"


def run_size(cfg: BundleConfig, args: argparse.Namespace, nodes: int, folder: Path) -> None:
    longest = stack.longest_window(cfg)
    history = min(max(longest, 3600), int(duration_seconds(args.max_history)))
    now, margin = int(time.time()), int(duration_seconds(args.margin))
    fleet = Fleet(args.clusters, nodes, args.models, history + margin, args.step, now + margin)
    label = cfg.naming.cluster_label
    print(
        f"== fleet: {args.clusters} cluster(s) x {nodes} nodes x 8 GPUs, {args.models} models; history "
        f"{history // 60} min to now at {args.step} s (rules' longest window {longest // 60} min)",
        flush=True,
    )
    sizes = cardinality(fleet)
    print("series: " + ", ".join(f"{k} {v:,.1f}" for k, v in sizes.items()) + " (per cluster)", flush=True)
    with stack.running(fleet, Faults(since=now - 300), cfg, folder, args.engines) as running:
        print("prepare: " + ", ".join(f"{k} {v:.0f} s" for k, v in running.timings.steps.items()), flush=True)
        running.wait_evaluated(times=2, seconds=1800)
        interval = duration_seconds(EVALUATION_INTERVAL)
        prometheus = next(iter(running.prometheus.values()), None)
        prom_groups = measure.slowest_rule_groups(prometheus, 3, interval) if prometheus else {}
        vm_cold = measure.rule_group_seconds(running.vmalert) if running.vmalert else {}
        vm_groups = (
            measure.slowest_vmalert_iterations(running.vmalert, 3, interval) if running.vmalert else {}
        )
        print(f"{'rule group':<40} {'prometheus':>12} {'vmalert':>12} {'vmalert max':>12}")
        for group in sorted(prom_groups.keys() | vm_groups.keys() | vm_cold.keys()):
            print(
                f"{group:<40} {_mark(prom_groups.get(group))} {_mark(vm_groups.get(group))} "
                f"{_mark(vm_cold.get(group))}"
            )
        if prometheus and args.slowest_rules:
            rules = sorted(measure.rule_seconds(prometheus).items(), key=lambda item: -item[1])
            print("slowest rules on prometheus (last evaluation):")
            for (group, rule), seconds in rules[: args.slowest_rules]:
                print(f"    {_mark(seconds)}  {group} / {rule}")
        boards = dashboards.build(cfg)
        scrape = int(duration_seconds(cfg.exporter.scrape_interval))
        spans = {
            "all": (measure.dashboard_range(cfg), measure.RANGE_7D),
            "default": (measure.dashboard_range(cfg),),
        }
        engines: list[tuple[str, Engine, dict[str, str]]] = []
        if prometheus:
            engines.append(("prometheus", prometheus, {label: ".*"}))
        if running.vm:
            engines.append(("victoria-metrics", running.vm, {label: ".+"}))
        for name, engine, values in engines:
            for span in spans.get(args.panels, ()):
                timed = measure.time_queries(
                    engine, boards, values, span, max(scrape, args.step), args.panel_budget
                )
                timed.sort(key=lambda t: -t.seconds)
                over = [t for t in timed if t.seconds >= TARGET_SECONDS or t.error]
                total = sum(t.seconds for t in timed)
                queries = sum(len(panel_queries(b)) for b in boards)
                left = f" ({queries - len(timed)} left out: --panel-budget)" if len(timed) < queries else ""
                print(
                    f"panels on {name} over {span // 3600} h: {len(timed)} queries{left}, slowest "
                    f"{_mark(timed[0].seconds)}, total {total:.1f} s, over target {len(over)}"
                )
                for t in timed[: args.slowest]:
                    where = f"{t.query.dashboard} / {t.query.title}"
                    print(f"    {_mark(t.seconds)}  {where} ({t.series} series){t.error}")
        if running.prometheus and running.vm and running.vmalert:
            only_prometheus, only_vmalert = compare.alert_difference(
                running.prometheus, running.vmalert, label, compare.slo_history_alerts(alerts.build(cfg))
            )
            compared, mismatches = compare.answer_mismatches(
                boards, running.prometheus, running.vm, label, time.time()
            )
            unknown = [m for m in mismatches if not m.known]
            print(
                f"global view: alerts only in Prometheus {len(only_prometheus)}, "
                f"only in vmalert {len(only_vmalert)}; answers compared {compared}, "
                f"differing {len(unknown)} (+{len(mismatches) - len(unknown)} known)"
            )
            for m in unknown[: args.slowest]:
                print(f"    {m.dashboard} / {m.title} ({m.cluster}): {m.detail}")
        memory = [(name, engine) for name, engine, _ in engines]
        print(
            "peak memory: " + ", ".join(f"{n} {measure.peak_resident_mib(e):.0f} MiB" for n, e in memory),
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument(
        "--nodes", type=int, nargs="+", default=[100, 300, 1000], help="GPU nodes per cluster"
    )
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument("--step", type=int, default=60, help="sample interval of the history, seconds")
    parser.add_argument(
        "--max-history", default="6h", help="history cap (the rules' longest window otherwise)"
    )
    parser.add_argument("--margin", default="45m", help="history written past now, for live evaluation")
    parser.add_argument("--config", help="bundle config override (naming.cluster_label defaults to cluster)")
    parser.add_argument("--slowest", type=int, default=5, help="slowest panel queries listed per engine")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=stack.ENGINES,
        default=list(stack.ENGINES),
        help="engines to run (one alone has the machine to itself; the global view needs both)",
    )
    parser.add_argument(
        "--panels",
        choices=("all", "default", "none"),
        default="all",
        help="panel passes: the dashboards' range and 7 days, the dashboards' range only, or none",
    )
    parser.add_argument(
        "--panel-budget",
        type=float,
        default=float("inf"),
        help="seconds after which a panel pass stops (the queries left are counted, not timed)",
    )
    parser.add_argument("--slowest-rules", type=int, default=8, help="slowest rules listed (Prometheus)")
    parser.add_argument("--keep", help="folder to keep the engines' data and logs in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(args.keep or tmp)
        override = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
        override.setdefault("naming", {}).setdefault("cluster_label", "cluster")
        (root / "override.yaml").parent.mkdir(parents=True, exist_ok=True)
        (root / "override.yaml").write_text(yaml.safe_dump(override))
        cfg = load_config(root / "override.yaml")
        for nodes in args.nodes:
            folder = root / f"nodes-{nodes}"
            folder.mkdir(parents=True, exist_ok=True)
            run_size(cfg, args, nodes, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
