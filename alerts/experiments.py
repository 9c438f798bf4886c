"""A/B and canary experiments between model versions: per arm counts and proportions since the start, a pooled
two-proportion z-test, the minimum detectable effect, a peeking-safe guardrail and a fixed-horizon verdict.

"So far" is `increase(counter[duration] @ end)`: the range [start, end] is fixed at generation time, so before
the end it holds every sample since the start (counter resets included, gaps in Prometheus' data bridged), and
from the end on it is frozen. Each arm's counts are rebuilt from raw samples at each evaluation, which costs a
read of everything since the start: hence a coarse group interval (experiments.evaluation_interval).
docs/experiments.md explains every series and the statistics.
"""

from __future__ import annotations

from alerts import stats
from alerts.boundary import Boundary
from alerts.model import Alert, Group, Record, Rule
from bundle.checks_experiments import (
    ARMS,
    TFSERVING_LATENCY,
    TFSERVING_REQUESTS,
    Experiment,
    experiments,
)
from bundle.promql import Metrics
from bundle.schema import BundleConfig, duration_seconds

TRIALS = "experiment_arm:ab_trials:increase"
SUCCESSES = "experiment_arm:ab_successes:increase"
PROPORTION = "experiment_arm:ab_proportion:ratio"
POOLED = "experiment:ab_pooled_proportion:ratio"
STANDARD_ERROR = "experiment:ab_standard_error:ratio"
DIFFERENCE = "experiment:ab_difference:ratio"
Z = "experiment:ab_z:score"
INFORMATION = "experiment:ab_information:ratio"
BOUNDARY = "experiment:ab_guardrail_boundary:z"
MDE = "experiment:ab_mde:ratio"
POWERED = "experiment:ab_powered:bool"
VERDICT = "experiment:ab_verdict:state"
MIN_EXPECTED = 5
# The verdict's values, in the order the dashboard numbers them (1-4; 0 while running).
VERDICTS = ("treatment_worse", "treatment_better", "no_difference", "underpowered")


def group_name(e: Experiment) -> str:
    return f"mlobs-experiment-{e.name}"


class _Sources:
    """Counter expressions of one experiment's trials and successes per arm, summed by the cluster label."""

    def __init__(self, cfg: BundleConfig, e: Experiment) -> None:
        self.e = e
        self.cfg = cfg
        self.keep = cfg.naming.cluster_label
        self.m = Metrics(cfg.naming.job_label, cfg.serving.job, frozenset({cfg.naming.job_label, "instance"}))

    def _increase(self, selector: str, window: str, frozen: bool) -> str:
        at = f" @ {self.e.end_seconds:.0f}" if frozen else ""
        return f"increase({selector}[{window}]{at})"

    def _sum(self, inner: str) -> str:
        return f"sum by ({self.keep}) ({inner})" if self.keep else f"sum({inner})"

    def _tf(self, name: str, arm: str, extra: str = "", suffix: str = "") -> str:
        """A TF Serving selector of one arm; `suffix` names a histogram's _count or _bucket series."""
        e = self.e
        selector = self.m(name, model=e.model, **{e.arm_label: e.arm(arm)})
        return name + suffix + selector[len(name) : -1] + extra + "}"

    def _custom(self, selector: str, arm: str) -> str:
        matcher = f'{self.e.arm_label}="{self.e.arm(arm)}"'
        selector = selector.removesuffix("{}")
        return selector[:-1] + f", {matcher}}}" if selector.endswith("}") else f"{selector}{{{matcher}}}"

    def trials(self, arm: str, window: str, frozen: bool = True) -> str:
        """Requests of one arm over `window` (ending at the planned end when `frozen`); 0 when none."""
        e = self.e
        if e.proportion == "custom":
            counted = self._increase(self._custom(e.trials, arm), window, frozen)
            return f"{self._sum(counted)}\nor on () vector(0)"
        ok = self._increase(self._tf(TFSERVING_LATENCY, arm, suffix="_count"), window, frozen)
        if e.proportion == "slow_ratio":
            return f"{self._sum(ok)}\nor on () vector(0)"
        # Successful requests come from the latency histogram (tfserving_requests_total also counts status
        # polls), failed ones from the status counter. Either may be absent: `or` keeps both, told apart by a
        # label, and each range is read once.
        failed = self._increase(self._tf(TFSERVING_REQUESTS, arm, ', status!="OK"'), window, frozen)
        parts = (
            f'\n  label_replace({ok}, "part", "ok", "", "")'
            f'\n  or label_replace({failed}, "part", "failed", "", "")\n'
        )
        return f"{self._sum(parts)}\nor on () vector(0)"

    def successes(self, arm: str, trials: str) -> str:
        """Counted outcomes of one arm since the start; `trials` (its recorded trials) stands in for none."""
        e, window = self.e, self.e.duration
        if e.proportion == "custom":
            counted = self._sum(self._increase(self._custom(e.successes, arm), window, True))
        elif e.proportion == "slow_ratio":
            le = repr(float(e.slow_threshold_seconds))
            fast = self._sum(
                self._increase(self._tf(TFSERVING_LATENCY, arm, f', le="{le}"', "_bucket"), window, True)
            )
            counted = f"{trials} - ignoring (experiment, arm) {fast}"
        else:
            client = "|".join(("OK", *self.cfg.serving.client_error_codes))
            errors = self._tf(TFSERVING_REQUESTS, arm, f', status!~"{client}"')
            counted = self._sum(self._increase(errors, window, True))
        return f"{counted}\nor on ({self.keep}) ({trials} * 0)"


def _by(cfg: BundleConfig, *labels: str) -> str:
    return ", ".join(label for label in (cfg.naming.cluster_label, *labels) if label)


def _records(cfg: BundleConfig, e: Experiment, src: _Sources) -> list[Rule]:
    sel = f'{{experiment="{e.name}"}}'
    by = _by(cfg, "experiment")
    arm_labels = {arm: {"experiment": e.name, "arm": arm} for arm in ARMS}
    z_alpha, z_beta = stats.z_two_sided(e.alpha), stats.z_power(e.power)
    if e.planned_trials:
        planned = 1 / e.planned_trials["control"] + 1 / e.planned_trials["treatment"]
        # Information grows as the variance of the difference shrinks: (1/N1 + 1/N2) / (1/n1 + 1/n2).
        information = f"clamp_max({planned!r} / sum by ({by}) (1 / {TRIALS}{sel}), 1)"
    else:
        start, horizon = e.start_seconds, duration_seconds(e.duration)
        information = f"clamp_max({STANDARD_ERROR}{sel} * 0 + (time() - {start:.0f}) / {horizon:.0f}, 1)"
    return [
        *(Record(TRIALS, src.trials(arm, e.duration), arm_labels[arm]) for arm in ARMS),
        *(
            Record(
                SUCCESSES,
                src.successes(arm, f'{TRIALS}{{experiment="{e.name}", arm="{arm}"}}'),
                arm_labels[arm],
            )
            for arm in ARMS
        ),
        Record(PROPORTION, f"{SUCCESSES}{sel} / ({TRIALS}{sel} > 0)"),
        Record(POOLED, f"sum by ({by}) ({SUCCESSES}{sel})\n/\n(sum by ({by}) ({TRIALS}{sel}) > 0)"),
        Record(
            STANDARD_ERROR, f"sqrt({POOLED}{sel} * (1 - {POOLED}{sel}) * sum by ({by}) (1 / {TRIALS}{sel}))"
        ),
        Record(
            DIFFERENCE,
            f'sum by ({by}) ({PROPORTION}{{experiment="{e.name}", arm="treatment"}})\n-\n'
            f'sum by ({by}) ({PROPORTION}{{experiment="{e.name}", arm="control"}})',
        ),
        Record(Z, f"{DIFFERENCE}{sel} / ({STANDARD_ERROR}{sel} > 0)"),
        Record(INFORMATION, information),
        Record(BOUNDARY, f"{stats.guardrail_constant(e.alpha)!r} / sqrt({INFORMATION}{sel} > 0)"),
        Record(MDE, f"{z_alpha + z_beta!r} * {STANDARD_ERROR}{sel}"),
        # Powered also needs the normal approximation to hold: the smaller arm expects at least
        # MIN_EXPECTED outcomes of the rarer kind (with none seen, the MDE is 0 and means nothing).
        Record(
            POWERED,
            f"({MDE}{sel} <= bool {e.min_effect!r})\n* (\n  min by ({by}) ({TRIALS}{sel})\n"
            f"  * (0.5 - abs({POOLED}{sel} - 0.5))\n  >= bool {MIN_EXPECTED}\n)",
        ),
        Record(VERDICT, _verdict(e, sel, z_alpha)),
    ]


def _worse(e: Experiment, z: str, critical: str) -> str:
    """z past `critical` in the direction where the treatment is worse (z is treatment minus control)."""
    return f"-{z} >= {critical}" if e.higher_is_better else f"{z} >= {critical}"


def _verdict(e: Experiment, sel: str, z_alpha: float) -> str:
    done = f"{INFORMATION}{sel} >= 1"
    z, c = f"{Z}{sel}", f"{z_alpha!r}"
    significant = f"abs({z}) >= {c}"
    conditions = (
        f"({_worse(e, z, c)}) and ({done})",
        f"({_worse(e, f'(-{z})', c)}) and ({done})",
        f"({POWERED}{sel} == 1 and ({done})) unless ({significant})",
        f"({POWERED}{sel} == 0 and ({done})) unless ({significant})",
    )
    return "\nor\n".join(
        f'label_replace(({cond}) * 0 + 1, "verdict", "{name}", "", "")'
        for name, cond in zip(VERDICTS, conditions, strict=True)
    )


def _alerts(cfg: BundleConfig, e: Experiment, src: _Sources) -> list[Rule]:
    prefix = f"{cfg.naming.alert_prefix}Experiment"
    sel = f'{{experiment="{e.name}"}}'
    start, end = e.start_seconds, e.end_seconds
    running = f"on () (vector(time()) < {end:.0f})"
    what = e.proportion.replace("_", " ") if e.proportion != "custom" else "custom proportion"
    arms = f"{e.arm_label} {e.treatment} against {e.control}" + (f" of model {e.model}" if e.model else "")
    head = f"Experiment {{{{ $labels.experiment }}}} ({arms}, {what})"
    static_head = f"Experiment {e.name} ({arms}, {what})"
    by = _by(cfg, "experiment")
    z_alpha = stats.z_two_sided(e.alpha)
    rules: list[Rule] = [
        Alert(
            f"{prefix}TreatmentWorse",
            # Looks stop at t = 1: the boundary's alpha holds for t <= 1; from there on the verdict speaks.
            f"({_worse(e, f'{Z}{sel}', f'{BOUNDARY}{sel}')})\nand on ({by}) ({INFORMATION}{sel} < 1)"
            f"\nand {running}",
            "critical",
            "A canary or A/B treatment is significantly worse than its control.",
            f'{head}: the treatment is worse; z = {{{{ $value | printf "%.2f" }}}} crossed the guardrail '
            f"boundary, which holds the false-alarm rate at {e.alpha:g} over the whole experiment. "
            "Roll the treatment back.",
        ),
        Alert(
            f"{prefix}Underpowered",
            f"(\n  ({MDE}{sel} and on ({by}) ({POWERED}{sel} == 0))\n"
            f"  unless on ({by}) (abs({Z}{sel}) >= {z_alpha!r})\n)\n"
            f"and on () (vector(time()) >= {end:.0f})",
            "warning",
            "An experiment reached its planned duration without the power to detect its minimum effect.",
            f"{head}: past its planned duration, only differences of {{{{ $value | humanizePercentage }}}} "
            f"or more are detectable at power {e.power:g}, above the minimum effect {e.min_effect:g}; no "
            "significant difference was found. Extend the experiment, send it more traffic, or stop it.",
        ),
    ]
    window = e.no_traffic_for
    for arm in ARMS:
        rules.append(
            Alert(
                f"{prefix}ArmNoTraffic",
                f"(\n{src.trials(arm, window, frozen=False)}\n) == 0\n"
                f"and on () (vector(time()) >= {start + duration_seconds(window):.0f})\nand {running}",
                "warning",
                "An experiment arm received no traffic.",
                f"{static_head}: the {arm} arm received {{{{ $value }}}} requests in the last {window}; "
                "check the traffic split (Istio weights, replicas of the arm's deployment).",
                labels={"experiment": e.name, "arm": arm},
            )
        )
    return rules


def groups(cfg: BundleConfig) -> list[Group]:
    section = cfg.experiments
    out = []
    for e in experiments(section):
        src = _Sources(cfg, e)
        rules = tuple(_records(cfg, e, src) + _alerts(cfg, e, src))
        out.append(Group(group_name(e), rules, section.dashboard_uid, interval=section.evaluation_interval))
    return out


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """None derived: the guardrail's boundary is a statistic of the traffic, not a configured threshold, and
    is checked against statsmodels' reference values (tests/test_alerts_experiments.py)."""
    return []
