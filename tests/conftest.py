"""Session-wide fixtures live in per-area modules, registered here; so are the property-test profiles."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins: list[str] = [
    "tests.fixtures_bundle",
    "tests.fixtures_isolation",
    "tests.fixtures_mlflow",
    "tests.fixtures_tfserving",
]

# tests/device/ runs on a machine with a real GPU (bash tests/device/run.sh), never under pytest.
collect_ignore = ["device"]

# Property tests: a small budget in `make test` (no example database: nothing written), a long one in
# `make fuzz` (HYPOTHESIS_PROFILE=fuzz; failing examples are kept in .hypothesis/ and replayed first).
settings.register_profile("test", max_examples=40, deadline=None, database=None)
settings.register_profile(
    "fuzz", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "test"))
