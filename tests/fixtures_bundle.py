"""Fixtures for the bundle (alerts, dashboards, deploy objects): the real tools and the CRD schemas."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes.client import ApiClient

from benchmarks.harness import stop
from bundle.schema import BundleConfig, load_config
from demo.prometheus import relabel_config
from tests.helpers import free_port, http_get

# relabel_config lives with the local stack, which builds its scrape jobs the same way.
__all__ = ["relabel_config"]

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


@contextlib.contextmanager
def running_prometheus(scrape_configs: Sequence[Mapping[str, Any]], folder: Path) -> Iterator[str]:
    """A real Prometheus on a free loopback port scraping every second; yields its base URL."""
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": list(scrape_configs)}),
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        tool("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
    ]
    with running_server(argv, url, folder / "prometheus.log") as ready:
        yield ready


@contextlib.contextmanager
def running_server(argv: Sequence[str], url: str, log: Path) -> Iterator[str]:
    """A server answering `/-/ready` (Prometheus, Alertmanager) run with `argv` at `url`, for the block."""
    with log.open("wb") as sink:
        process = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _ready(url, process), 30, f"{Path(argv[0]).name} ready (log: {log})")
        yield url
    finally:
        stop(process)


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
    try:
        return http_get(f"{url}/-/ready", timeout=2)[0] == 200
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds:g} s for {what}")
        time.sleep(0.1)


def instant_query(url: str, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of each series an instant query returns at `at`; a PromQL error fails the test."""
    query = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    status, _, body = http_get(f"{url}/api/v1/query?{query}")
    answer = json.loads(body)
    if status != 200 or answer.get("status") != "success":
        raise AssertionError(f"query failed ({status}): {answer.get('error')}\n{expr}")
    return [(item["metric"], float(item["value"][1])) for item in answer["data"]["result"]]


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


class _KubectlLoader(yaml.SafeLoader):
    """YAML as kubectl writes it: a bare `=` (an AlertmanagerConfig matchType) is a string in YAML 1.2, but
    PyYAML's YAML 1.1 reads it as the obsolete `value` tag and fails."""


_KubectlLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def load_kubectl_output(text: str) -> list[Any]:
    """Every document of kubectl's output (`kubectl kustomize`)."""
    return list(yaml.load_all(text, Loader=_KubectlLoader))
