"""Normal quantiles for the experiment rules, computed at generation time (PromQL has no inverse CDF)."""

from __future__ import annotations

from statistics import NormalDist

_NORMAL = NormalDist()


def z_two_sided(alpha: float) -> float:
    """z_(1-alpha/2): the fixed-horizon two-sided critical value."""
    return _NORMAL.inv_cdf(1 - alpha / 2)


def z_power(power: float) -> float:
    """z_(power) = z_(1-beta): how far beyond the critical value the true effect must sit."""
    return _NORMAL.inv_cdf(power)


def guardrail_constant(alpha: float) -> float:
    """c of the one-sided O'Brien-Fleming-type boundary |z| >= c / sqrt(t), t = information fraction.

    Under the null z(t) * sqrt(t) is a Brownian motion in t, so by the reflection principle the chance that it
    ever reaches c for t <= 1 is 2 (1 - Phi(c)): c = z_(1-alpha/2) holds a continuously watched one-sided
    guardrail at alpha; looks at discrete times cross less often.
    """
    return z_two_sided(alpha)
