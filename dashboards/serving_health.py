"""The lower rows of the Model serving dashboard: SLO burn rates and error budgets, the health of the TF
Serving targets and their discovery, and the GPUs under the serving pods (the attribution join)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alerts import panels, records
from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards import gpu
from dashboards.scope import grouping, selector, serving_metrics
from dashboards.style import UP, Query, Section, ratio_panel, states, steps, timeseries

# Burn-rate windows drawn (of records.SLO_WINDOWS): the long windows of the SRE workbook's alert pairs.
BURN_WINDOWS = ("1h", "6h", "1d", "3d")
# A burn rate of 14.4 spends 2% of a 30-day budget in an hour: the workbook's page threshold.
FAST_BURN = 14.4
MODEL = "{{namespace}}/{{model}}"


def per_model(cfg: BundleConfig, section: str, key: str) -> tuple[float, Mapping[str, float]]:
    """The value of `section.key`, and the models whose models.overrides set their own."""
    default = float(getattr(getattr(cfg, section), key))
    own = {
        model: float(values[section][key])
        for model, values in sorted(cfg.models.overrides.items())
        if isinstance(values.get(section), Mapping) and key in values[section]
    }
    return default, own


def divided_per_model(cfg: BundleConfig, name: str, section: str, key: str, budget: bool = False) -> str:
    """The record `name` of the chosen models divided by each model's `section.key` (by 1 minus it with
    `budget`: an objective's error budget), models.overrides applied."""
    default, own = per_model(cfg, section, key)

    def divisor(value: float) -> str:
        return f"{1 - value if budget else value:.6g}"

    chosen = selector(cfg, name, namespace=Re("$namespace"), model=Re("$model"))
    if not own:
        return f"{chosen} / {divisor(default)}"
    overridden = selector(cfg, name, model=Re("|".join(map(re.escape, own))))
    parts = [f"({chosen} unless {overridden}) / {divisor(default)}"]
    parts += [f"({chosen} and {selector(cfg, name, model=m)}) / {divisor(v)}" for m, v in own.items()]
    return "\nor\n".join(parts)


def burn_rate(cfg: BundleConfig, sli: records.Sli, window: str) -> str:
    """The SLI's error ratio over `window` divided by each model's error budget (1 - its objective)."""
    return divided_per_model(
        cfg, records.slo_error_ratio(sli, window), "slo", f"{sli}_objective", budget=True
    )


def slo(cfg: BundleConfig) -> Section:
    burn = steps("green", (1, "orange"), (FAST_BURN, "red"))
    scope: dict[str, str | Re] = {"namespace": Re("$namespace"), "model": Re("$model")}

    def burn_panel(sli: records.Sli, title: str) -> Any:
        return timeseries(
            title,
            f"How fast each model spends its {sli} error budget over the SLO period ({cfg.slo.period}), "
            f"over {', '.join(BURN_WINDOWS)}: 1 spends it exactly by the period's end, {FAST_BURN:g} pages "
            "when the short window agrees. Models with their own objective (models.overrides) use it.",
            "short",
            *(Query(burn_rate(cfg, sli, window), f"{MODEL} {window}") for window in BURN_WINDOWS),
            thresholds=burn,
            shade_thresholds=True,
            width=8,
        )

    return Section(
        "Service level objectives",
        (
            burn_panel("availability", "Availability burn rate"),
            burn_panel("latency", "Latency burn rate"),
            timeseries(
                "Error budget remaining",
                f"Share of each model's error budget left over the SLO period ({cfg.slo.period}): "
                f"availability {cfg.slo.availability_objective:.2%}, latency {cfg.slo.latency_objective:.0%} "
                f"under {cfg.slo.latency_threshold_seconds * 1000:.1f} ms. At 0 the budget is spent.",
                "percentunit",
                *(
                    Query(selector(cfg, records.slo_budget_remaining(sli), **scope), f"{MODEL} {sli}")
                    for sli in ("availability", "latency")
                ),
                thresholds=steps("red", (0, "orange"), (0.25, "green")),
                width=8,
            ),
        ),
    )


def targets(cfg: BundleConfig) -> Section:
    m = serving_metrics(cfg)
    node = cfg.naming.node_label
    namespaced = {"namespace": Re("$namespace")}
    return Section(
        "Serving targets",
        (
            states(
                "Target health",
                "Whether the exporter read each TF Serving target's metrics page and every model status at "
                "its last scrape.",
                UP,
                Query(m("tfserving_target_scrape_success", **namespaced), "{{target}}"),
            ),
            timeseries(
                "Target read failures",
                "Failed reads per second by reason (timeout, connection, http_status, ...) over all chosen "
                "targets, and of each failing target by reason.",
                "ops",
                # Recorded (alerts/panels.py): every target by reason is thousands of series on a fleet,
                # nearly all at 0, which took over a second to draw. The sums keep the panel drawn while
                # none fails.
                Query(
                    f"sum by ({grouping(cfg, 'reason')}) "
                    f"({selector(cfg, panels.namespace_read_failures_record(cfg), **namespaced)})\nor\n"
                    f"{selector(cfg, panels.failing_target_record(cfg), **namespaced)}",
                    "{{reason}} {{target}}",
                ),
            ),
            states(
                "Serving pod discovery",
                "Whether each node's exporter could list its TF Serving pods through the Kubernetes API "
                "(the last good listing is kept while it fails).",
                UP,
                Query(m("tfserving_kubernetes_discovery_success"), f"{{{{{node}}}}}"),
            ),
            timeseries(
                "Serving pods discovered",
                "TF Serving pods each node's exporter found: a drop to 0 with pods running means a broken "
                "selector (serving.discovery_label_selector).",
                "short",
                Query(m("tfserving_kubernetes_discovered_targets"), f"{{{{{node}}}}}"),
            ),
        ),
    )


def gpus(cfg: BundleConfig) -> Section:
    """The GPUs under the serving pods: nvidia_gpu_model_info joined to the per-GPU series on uuid, recorded
    (alerts/panels.py): the join read every GPU of the fleet at every step."""
    node = cfg.naming.node_label
    served: dict[str, str | Re] = {"namespace": Re("$namespace"), "model": Re("$model")}
    legend = f"{MODEL} ({{{{pod}}}}) GPU {{{{gpu}}}} on {{{{{node}}}}}"
    return Section(
        "GPUs under the serving pods",
        (
            ratio_panel(
                "GPU utilization under serving pods",
                "Utilization of each GPU a TF Serving pod of the chosen models holds (nvidia_gpu_model_info "
                "joined on uuid). MIG slices report none. A GPU shared by several pods shows once per pod.",
                Query(selector(cfg, panels.serving_gpu_utilization_record(), **served), legend),
                gpu.band(cfg),
            ),
            ratio_panel(
                "GPU memory under serving pods",
                "Memory in use on each GPU a serving pod holds, as a share of the GPU's memory.",
                Query(selector(cfg, panels.serving_gpu_memory_record(), **served), legend),
                steps("green", (cfg.gpu.memory_used_warning_ratio, "red")),
            ),
        ),
    )


def sections(cfg: BundleConfig) -> list[Section]:
    out = [slo(cfg), targets(cfg)]
    if cfg.attribution.enabled and cfg.serving.collect_on_gpu_nodes:
        out.append(gpus(cfg))
    return out
