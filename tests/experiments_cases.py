"""promtool test cases of the experiment rules, each expected number computed by statsmodels or scipy.

Each case is one `tests:` entry of a promtool test file for the rules of one example experiment
(tests/experiments_example.py), built in Python so that the references, not the rule expressions, give the
expected values.
"""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportions_ztest

from alerts import experiments
from bundle.config import defaults
from tests.experiments_example import CANARY, so_far

JOB = (
    'job="mlobs-exporter", instance="10.0.0.1:9847", target="10.0.0.5:8501", namespace="serving", '
    'pod="resnet-0"'
)
# promtool 2.42 compares sample values exactly, so each statistic is checked by an expression that is 1 when
# the recorded value agrees with the reference to a relative 1e-5 (five significant digits).
TOLERANCE = 1e-5


def tf_arm(version: str, ok: float, internal: float, invalid: float) -> list[dict[str, str]]:
    """One canary arm's series: OK requests (histogram count), server and client errors per minute."""
    labels = f'{JOB}, model="resnet", version="{version}"'
    return [
        {
            "series": "tfserving_request_duration_seconds_count"
            f'{{{labels}, api="predict", entrypoint="REST"}}',
            "values": f"0+{ok:g}x150",
        },
        {
            "series": f'tfserving_requests_total{{{labels}, status="INTERNAL"}}',
            "values": f"0+{internal:g}x150",
        },
        {
            "series": f'tfserving_requests_total{{{labels}, status="INVALID_ARGUMENT"}}',
            "values": f"0+{invalid:g}x150",
        },
    ]


# Per minute: control 980 OK, 20 server errors, 5 client errors; treatment 97 OK, 3 server errors.
CONTROL = {"trials": 1005.0, "successes": 20.0}
TREATMENT = {"trials": 100.0, "successes": 3.0}


def canary_stats(minutes: int, alpha: float = 0.05, power: float = 0.8) -> dict[str, float]:
    """The reference statistics of the canary after `minutes`, from statsmodels and scipy."""
    n_t, x_t = so_far(TREATMENT["trials"], minutes), so_far(TREATMENT["successes"], minutes)
    n_c, x_c = so_far(CONTROL["trials"], minutes), so_far(CONTROL["successes"], minutes)
    z, _ = proportions_ztest([x_t, x_c], [n_t, n_c])
    pooled = (x_t + x_c) / (n_t + n_c)
    effect = NormalIndPower().solve_power(nobs1=n_t, ratio=n_c / n_t, alpha=alpha, power=power)
    information = min(1.0, minutes / 120)
    return {
        "trials_control": n_c,
        "trials_treatment": n_t,
        "successes_control": x_c,
        "successes_treatment": x_t,
        "proportion_control": x_c / n_c,
        "proportion_treatment": x_t / n_t,
        "pooled": pooled,
        "standard_error": (x_t / n_t - x_c / n_c) / z,
        "difference": x_t / n_t - x_c / n_c,
        "z": z,
        "information": information,
        "boundary": norm.ppf(1 - alpha / 2) / math.sqrt(information),
        # NormalIndPower's effect size is standardized by the common standard deviation sqrt(p (1 - p)).
        "mde": effect * math.sqrt(pooled * (1 - pooled)),
    }


def matchers(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def close(record: str, minutes: int, value: float, **labels: str) -> dict[str, Any]:
    """The record agrees with `value` to TOLERANCE (relative)."""
    return {
        "expr": f"abs({record}{matchers(labels)} / {float(value)!r} - 1) < bool {TOLERANCE}",
        "eval_time": f"{minutes}m",
        "exp_samples": [{"labels": matchers(labels), "value": 1}],
    }


def exact(record: str, minutes: int, value: float | None = None, **labels: str) -> dict[str, Any]:
    """The record equals `value` (a 0/1 flag or state), or is absent when `value` is None."""
    samples = [] if value is None else [{"labels": matchers({"__name__": record, **labels}), "value": value}]
    return {"expr": f"{record}{matchers(labels)}", "eval_time": f"{minutes}m", "exp_samples": samples}


def canary_case() -> dict[str, Any]:
    exp = {"experiment": "canary"}
    checks = []
    for minutes in (30, 125):
        s = canary_stats(minutes)
        for arm in ("control", "treatment"):
            checks += [
                close(experiments.TRIALS, minutes, s[f"trials_{arm}"], **exp, arm=arm),
                close(experiments.SUCCESSES, minutes, s[f"successes_{arm}"], **exp, arm=arm),
                close(experiments.PROPORTION, minutes, s[f"proportion_{arm}"], **exp, arm=arm),
            ]
        checks += [
            close(experiments.POOLED, minutes, s["pooled"], **exp),
            close(experiments.STANDARD_ERROR, minutes, s["standard_error"], **exp),
            close(experiments.DIFFERENCE, minutes, s["difference"], **exp),
            close(experiments.Z, minutes, s["z"], **exp),
            close(experiments.INFORMATION, minutes, s["information"], **exp),
            close(experiments.BOUNDARY, minutes, s["boundary"], **exp),
            close(experiments.MDE, minutes, s["mde"], **exp),
            exact(experiments.POWERED, minutes, float(s["mde"] <= 0.005), **exp),
        ]
    assert canary_stats(30)["mde"] > 0.005 >= canary_stats(125)["mde"], "the example must become powered"
    checks += [
        exact(experiments.VERDICT, 119),
        exact(experiments.VERDICT, 125, 1, **exp, verdict="treatment_worse"),
    ]
    # The naive fixed-horizon test already rejects at 30m; the guardrail waits for more evidence.
    assert norm.ppf(0.975) < canary_stats(30)["z"] < canary_stats(30)["boundary"]
    name = "MLObsExperimentTreatmentWorse"
    crossing = next(m for m in range(1, 120) if canary_stats(m)["z"] >= canary_stats(m)["boundary"])
    worse = {
        "exp_labels": {"severity": "critical", "experiment": "canary"},
        "exp_annotations": annotations(
            name,
            "A canary or A/B treatment is significantly worse than its control.",
            "Experiment canary (version 7 against 6 of model resnet, error ratio): the treatment "
            f"is worse; z = {canary_stats(crossing)['z']:.2f} crossed the guardrail boundary, which holds "
            "the false-alarm rate at 0.05 over the whole experiment. Roll the treatment back.",
        ),
    }
    return {
        "interval": "1m",
        "input_series": [*tf_arm("6", 980, 20, 5), *tf_arm("7", 97, 3, 0)],
        "promql_expr_test": checks,
        "alert_rule_test": [
            {"eval_time": f"{crossing - 1}m", "alertname": name, "exp_alerts": []},
            {"eval_time": f"{crossing}m", "alertname": name, "exp_alerts": [worse]},
            {"eval_time": "121m", "alertname": name, "exp_alerts": []},
            *(
                {"eval_time": t, "alertname": "MLObsExperimentUnderpowered", "exp_alerts": []}
                for t in ("60m", "125m")
            ),
            {"eval_time": "60m", "alertname": "MLObsExperimentArmNoTraffic", "exp_alerts": []},
        ],
    }


def istio_case() -> dict[str, Any]:
    """Ten requests a minute per arm, one a minute failing; the treatment loses its traffic at 60m."""
    exp = {"experiment": "ranker"}
    base = (
        'istio_requests_total{destination_service_name="ranker", destination_version="%s", '
        'response_code="%s"}'
    )
    series = [
        {"series": base % ("v1", "200"), "values": "0+9x150"},
        {"series": base % ("v1", "503"), "values": "0+1x150"},
        {"series": base % ("v2", "200"), "values": "0+9x60 540x90"},
        {"series": base % ("v2", "503"), "values": "0+1x60 60x90"},
    ]
    n = so_far(10, 30)
    information = (1 / 1000 + 1 / 1000) / (2 / n)
    z_alpha = norm.ppf(1 - 0.01 / 2)
    labels = {"severity": "warning", "experiment": "ranker"}
    head = "Experiment ranker (destination_version v2 against v1, custom proportion)"
    no_traffic = {
        "exp_labels": {**labels, "arm": "treatment"},
        "exp_annotations": annotations(
            "MLObsExperimentArmNoTraffic",
            "An experiment arm received no traffic.",
            f"{head}: the treatment arm received 0 requests in the last 10m; check the traffic split "
            "(Istio weights, replicas of the arm's deployment).",
        ),
    }
    # At the horizon: 1200 control and 600 treatment requests, a tenth of each failing.
    effect = NormalIndPower().solve_power(nobs1=600, ratio=2, alpha=0.01, power=0.9)
    mde = effect * math.sqrt(0.1 * 0.9)
    underpowered = {
        "exp_labels": labels,
        "exp_annotations": annotations(
            "MLObsExperimentUnderpowered",
            "An experiment reached its planned duration without the power to detect its minimum effect.",
            f"{head}: past its planned duration, only differences of {mde * 100:.4g}% or more are detectable "
            "at power 0.9, above the minimum effect 0.01; no significant difference was found. Extend the "
            "experiment, send it more traffic, or stop it.",
        ),
    }
    return {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            close(experiments.INFORMATION, 30, information, **exp),
            close(experiments.BOUNDARY, 30, z_alpha / math.sqrt(information), **exp),
            exact(experiments.POWERED, 30, 0, **exp),
            exact(experiments.VERDICT, 125),
        ],
        "alert_rule_test": [
            {"eval_time": "69m", "alertname": "MLObsExperimentArmNoTraffic", "exp_alerts": []},
            {"eval_time": "71m", "alertname": "MLObsExperimentArmNoTraffic", "exp_alerts": [no_traffic]},
            {"eval_time": "119m", "alertname": "MLObsExperimentUnderpowered", "exp_alerts": []},
            {"eval_time": "120m", "alertname": "MLObsExperimentUnderpowered", "exp_alerts": [underpowered]},
            {"eval_time": "60m", "alertname": "MLObsExperimentTreatmentWorse", "exp_alerts": []},
        ],
    }


def annotations(alert: str, summary: str, description: str) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "runbook_url": defaults()["links"]["runbook_url_pattern"].format(alert=alert.lower()),
        "dashboard_url": "https://grafana.example.internal/d/ml-experiments",
    }


SLOW = {**CANARY, "proportion": "slow_ratio", "slow_threshold_seconds": 0.0674664}


def slow_case() -> dict[str, Any]:
    """100 successful requests a minute per arm; 10 (control) and 20 (treatment) slower than 67.47 ms."""
    exp = {"experiment": "slow"}
    series = []
    for version, fast in (("6", 90), ("7", 80)):
        labels = f'{JOB}, model="resnet", version="{version}", api="predict", entrypoint="REST"'
        series += [
            {"series": f"tfserving_request_duration_seconds_count{{{labels}}}", "values": "0+100x150"},
            {
                "series": f'tfserving_request_duration_seconds_bucket{{{labels}, le="0.0674664"}}',
                "values": f"0+{fast}x150",
            },
        ]
    return {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            close(experiments.SUCCESSES, 125, 1200, **exp, arm="control"),
            close(experiments.SUCCESSES, 125, 2400, **exp, arm="treatment"),
            close(experiments.PROPORTION, 125, 0.2, **exp, arm="treatment"),
        ],
    }


def clean_case() -> dict[str, Any]:
    """No errors in either arm: zero successes, and no power (the normal approximation needs outcomes)."""
    exp = {"experiment": "clean"}
    series = [
        s for version in ("6", "7") for s in tf_arm(version, 100, 0, 0) if "INTERNAL" not in s["series"]
    ]
    return {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            exact(experiments.SUCCESSES, 125, 0, **exp, arm="control"),
            exact(experiments.MDE, 125, 0, **exp),
            exact(experiments.POWERED, 125, 0, **exp),
            exact(experiments.VERDICT, 125, 1, **exp, verdict="underpowered"),
        ],
    }
