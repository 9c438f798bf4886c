"""Session-wide fixtures live in per-area modules, registered here."""

pytest_plugins: list[str] = ["tests.fixtures_bundle", "tests.fixtures_mlflow", "tests.fixtures_tfserving"]
