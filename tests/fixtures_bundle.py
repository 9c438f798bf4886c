"""Fixtures for the bundle (alerts, dashboards, deploy objects): the real tools and the CRD schemas."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes.client import ApiClient

from bundle.schema import BundleConfig, load_config

SCHEMAS = Path(__file__).parent / "fixtures" / "schemas"
_GO_INLINE_FLAGS = re.compile(r"^\^(\(\?[a-zA-Z]+\))")

Validate = Callable[[dict[str, Any]], list[str]]

# Kubernetes' client model of each core kind the bundle generates.
KUBE_MODELS = {
    "DaemonSet": "V1DaemonSet",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "ServiceAccount": "V1ServiceAccount",
    "ConfigMap": "V1ConfigMap",
    "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
}


def round_trip(obj: dict[str, Any]) -> Any:
    """The object after Kubernetes' client models read and write it: misspelt or misplaced fields vanish."""
    api = ApiClient()
    return api.sanitize_for_serialization(
        api.deserialize(json.dumps(obj), KUBE_MODELS[obj["kind"]], "application/json")
    )


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not installed: run `make test` (scripts/bootstrap.sh installs it)")
    return path


def run_tool(argv: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def _translate(schema: Any) -> Any:
    """Go regexes put inline flags after the anchor (`^(?i)...`); Python's `re` wants them first. Objects with
    declared properties and no escape hatch also reject unknown fields, as the API server's strict field
    validation does, so a misspelt field fails here rather than being pruned silently."""
    if isinstance(schema, dict):
        out = {key: _translate(value) for key, value in schema.items()}
        if isinstance(out.get("pattern"), str):
            out["pattern"] = _GO_INLINE_FLAGS.sub(r"\1^", out["pattern"])
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_translate(item) for item in schema]
    return schema


def crd_validator(kind_plural: str) -> Validate:
    """A Draft 7 validator for one monitoring.coreos.com CRD (v1), returning error messages."""
    crd = yaml.safe_load((SCHEMAS / f"monitoring.coreos.com_{kind_plural}.yaml").read_text(encoding="utf-8"))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    validator = jsonschema.Draft7Validator(_translate(version["schema"]["openAPIV3Schema"]))

    def validate(obj: dict[str, Any]) -> list[str]:
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]

    return validate


@pytest.fixture(scope="session")
def bundle_config() -> BundleConfig:
    return load_config()


@pytest.fixture(scope="session")
def validate_servicemonitor() -> Validate:
    return crd_validator("servicemonitors")


@pytest.fixture(scope="session")
def validate_prometheusrule() -> Validate:
    return crd_validator("prometheusrules")


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[[dict[str, Any]], BundleConfig]:
    """A config from a partial override, loaded through the same path as `--config FILE`."""

    def make(override: dict[str, Any]) -> BundleConfig:
        path = tmp_path / "override.yaml"
        path.write_text(yaml.safe_dump(override), encoding="utf-8")
        return load_config(path)

    return make
