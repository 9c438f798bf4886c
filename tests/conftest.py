"""Session-wide fixtures live in per-area modules, registered here."""

pytest_plugins: list[str] = [
    "tests.fixtures_bundle",
    "tests.fixtures_isolation",
    "tests.fixtures_mlflow",
    "tests.fixtures_tfserving",
]

# tests/device/ runs on a machine with a real GPU (bash tests/device/run.sh), never under pytest.
collect_ignore = ["device"]
