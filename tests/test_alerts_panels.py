"""The panel recording rules (alerts/panels.py), checked by promtool's unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from bundle.schema import BundleConfig
from tests.fixtures_bundle import run_tool, tool
from tests.test_alerts_gpu import RULE_TESTS, write_rules


def test_panel_records_pass_their_promtool_unit_tests(bundle_config: BundleConfig, tmp_path: Path) -> None:
    write_rules(bundle_config, tmp_path)
    shutil.copy(RULE_TESTS / "panels-test.yaml", tmp_path)
    result = run_tool([tool("promtool"), "test", "rules", "panels-test.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
