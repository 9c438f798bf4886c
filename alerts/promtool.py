"""Run promtool over a generated rule file: `check rules`, and `test rules` with the shipped cases
(alerts/rule_tests/*.yaml, part of the package) and any generated ones.

Every test file is given `group_eval_order` in the rule file's order. Without it promtool evaluates groups in
map order, so an alert reading another group's records would see them one evaluation late, at random.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

RULES = "rules.yaml"


class PromtoolMissingError(RuntimeError):
    pass


def shipped_tests() -> dict[str, str]:
    """The hand-written promtool cases shipped with the package, by file name."""
    folder = resources.files("alerts").joinpath("rule_tests")
    if not folder.is_dir():
        raise PromtoolMissingError("the shipped promtool cases (alerts/rule_tests/*.yaml) are not installed")
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


def with_group_order(test: Mapping[str, Any], groups: Sequence[str]) -> dict[str, Any]:
    """`test` (a parsed promtool test file) evaluating `groups` in the rule file's order."""
    return {**test, "rule_files": [RULES], "group_eval_order": list(groups)}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise PromtoolMissingError("promtool not found on PATH (Debian/Ubuntu: apt install prometheus)")
    return path


def _run(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=600, check=False, cwd=cwd)


def check_rules(folder: Path) -> list[str]:
    """`promtool check rules` of folder/rules.yaml: one line per problem, none when it passes."""
    result = _run([promtool(), "check", "rules", RULES], folder)
    if result.returncode == 0:
        return []
    return [f"promtool check rules: {line.strip()}" for line in _lines(result) if "FAILED" not in line]


def run_tests(folder: Path, rules_text: str, tests: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Write rules.yaml and every test (by file name) into `folder`, run `promtool test rules` on them."""
    groups = [group["name"] for group in yaml.safe_load(rules_text)["groups"]]
    (folder / RULES).write_text(rules_text, encoding="utf-8")
    names = []
    for name, test in tests.items():
        (folder / name).write_text(yaml.safe_dump(with_group_order(test, groups), sort_keys=False), "utf-8")
        names.append(name)
    problems = []
    for name in names:  # one run per file: promtool reports failures on stderr, apart from its file headers
        result = _run([promtool(), "test", "rules", name], folder)
        if result.returncode != 0:
            problems += [f"promtool test rules: {name}: {line}" for line in _failures(result)]
    return problems


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def _failures(result: subprocess.CompletedProcess[str]) -> list[str]:
    """promtool's report, one line per failed check (blocks start at `expr:`, `alertname:`, `rule:`)."""
    out: list[str] = []
    for line in _lines(result):
        text = " ".join(line.split())
        if text.startswith("Unit Testing:") or text in ("FAILED:", "SUCCESS"):
            continue
        if text.startswith(("expr:", "alertname:", "rule:")) or not out:
            out.append(text)
        else:
            out[-1] += " " + text
    return out or ["promtool failed without a report"]
