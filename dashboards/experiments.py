"""`ml-experiments`: A/B and canary experiments between model versions, read from the experiment records
(alerts/experiments.py): traffic, proportions with confidence intervals, z against the guardrail, MDE against
the minimum effect, and the verdict."""

from __future__ import annotations

from typing import Any

from alerts import experiments as rec
from alerts import stats
from bundle.checks_experiments import experiments
from bundle.schema import BundleConfig
from dashboards.style import Panel, Query, Section, dashboard, query_variable, steps, value_map

CI_LEVEL = 0.95
# The verdict as a number, so one state timeline colours it; 0 while the experiment runs.
VERDICT_CODES = {name: code for code, name in enumerate(rec.VERDICTS, start=1)}
VERDICT_TEXT = {
    "0": ("running", "text"),
    "1": ("treatment worse", "red"),
    "2": ("treatment better", "green"),
    "3": ("no difference", "blue"),
    "4": ("underpowered", "orange"),
}


def _selector(cfg: BundleConfig, **extra: str) -> str:
    matchers = {
        "experiment": "$experiment",
        **({cfg.naming.cluster_label: "$cluster"} if cfg.naming.cluster_label else {}),
    }
    parts = [f'{k}=~"{v}"' for k, v in matchers.items()] + [f'{k}="{v}"' for k, v in extra.items()]
    return "{" + ", ".join(parts) + "}"


def _verdict(cfg: BundleConfig, sel: str) -> str:
    by = ", ".join(label for label in (cfg.naming.cluster_label, "experiment") if label)
    codes = "\nor ".join(
        f'{rec.VERDICT}{sel[:-1]}, verdict="{name}"}} * {code}' for name, code in VERDICT_CODES.items()
    )
    return f"sum by ({by}) (\n{codes}\n)\nor sum by ({by}) (0 * {rec.INFORMATION}{sel})"


def section(cfg: BundleConfig) -> Section:
    sel = _selector(cfg)
    z = stats.z_two_sided(1 - CI_LEVEL)
    p, n = f"{rec.PROPORTION}{sel}", f"{rec.TRIALS}{sel}"
    half_width = f"{z!r} * sqrt({p} * (1 - {p}) / {n})"
    arm = "{{experiment}} {{arm}}"
    min_effects = tuple(
        Query(f'0 * {rec.MDE}{{experiment="{e.name}"}} + {e.min_effect!r}', "{{experiment}} minimum effect")
        for e in experiments(cfg.experiments)
    )
    panels = (
        Panel(
            "timeseries",
            "Trials per arm",
            "Requests (trials) each arm has served since the experiment's start; frozen at its planned end.",
            "short",
            (Query(n, arm),),
        ),
        Panel(
            "timeseries",
            "Proportion per arm",
            f"Each arm's proportion (errors, slow requests or the custom successes per trial) with its "
            f"{CI_LEVEL:.0%} Wald confidence interval, p ± z sqrt(p (1 - p) / n).",
            "percentunit",
            (
                Query(p, arm),
                Query(f"{p} - {half_width}", f"{arm} low"),
                Query(f"{p} + {half_width}", f"{arm} high"),
            ),
        ),
        Panel(
            "timeseries",
            "z against the guardrail boundary",
            "Pooled two-proportion z (treatment minus control) and the O'Brien-Fleming-type boundary "
            "±c / sqrt(t): crossing it on the worse side fires the guardrail alert, at the configured alpha "
            "however often it is evaluated.",
            "short",
            (
                Query(f"{rec.Z}{sel}", "{{experiment}} z"),
                Query(f"{rec.BOUNDARY}{sel}", "{{experiment}} boundary"),
                Query(f"-{rec.BOUNDARY}{sel}", "{{experiment}} -boundary"),
            ),
        ),
        Panel(
            "timeseries",
            "Minimum detectable effect against the minimum effect",
            "The smallest difference of proportions the traffic so far detects at the target power; the "
            "experiment is powered once it is at or below the configured minimum effect of interest.",
            "percentunit",
            (
                Query(f"{rec.MDE}{sel}", "{{experiment}} MDE"),
                Query(f"{rec.DIFFERENCE}{sel}", "{{experiment}} observed"),
                *min_effects,
            ),
        ),
        Panel(
            "timeseries",
            "Information fraction",
            "Share of the planned information seen so far (planned sample size, or share of the planned "
            "duration): the guardrail boundary shrinks as it grows, and the verdict appears at 100%.",
            "percentunit",
            (Query(f"{rec.INFORMATION}{sel}", "{{experiment}}"),),
            min=0,
            max=1,
        ),
        Panel(
            "state-timeline",
            "Verdict",
            "The fixed-horizon verdict, only at or after the planned sample size or duration: treatment "
            "worse, better, no significant difference (powered), or underpowered; running before that.",
            "short",
            (Query(_verdict(cfg, sel), "{{experiment}}"),),
            mappings=value_map(VERDICT_TEXT),
            thresholds=steps("text"),
        ),
    )
    return Section("Experiments", panels)


def wanted(cfg: BundleConfig) -> bool:
    """Only a bundle that declares experiments gets the dashboard."""
    return bool(cfg.experiments.definitions)


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    variables = [query_variable("experiment", "Experiment", f"label_values({rec.TRIALS}, experiment)")]
    if cfg.naming.cluster_label:
        cluster = cfg.naming.cluster_label
        variables.insert(0, query_variable("cluster", "Cluster", f"label_values({rec.TRIALS}, {cluster})"))
    return dashboard(
        uid=cfg.experiments.dashboard_uid,
        title="ML experiments",
        description="A/B and canary experiments between model versions: significance, power and the "
        "peeking-safe guardrail (docs/experiments.md).",
        tags=d.tags,
        refresh=d.refresh,
        time_from=d.time_from,
        variables=variables,
        sections=[section(cfg)],
    )
