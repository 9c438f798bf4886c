"""A fake Kubernetes API server for pod listing, built to the real one's behaviour.

Serves `GET /api/v1/pods` and `GET /api/v1/namespaces/{ns}/pods` as `PodList` JSON (kind, apiVersion,
metadata.resourceVersion, items without kind/apiVersion) and applies `fieldSelector` and `labelSelector`
itself, with the real grammar: field selectors `a=b`, `a==b`, `a!=b` on the fields pods support (others are a
400 "field label not supported"), label selectors with equality, `in`, `notin`, existence and `!key`. Errors
are `Status` objects. Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The field labels the API server accepts for pods (pkg/registry/core/pod/strategy.go ToSelectableFields).
POD_FIELDS = {
    "metadata.name": lambda p: p["metadata"]["name"],
    "metadata.namespace": lambda p: p["metadata"]["namespace"],
    "spec.nodeName": lambda p: p["spec"].get("nodeName", ""),
    "spec.restartPolicy": lambda p: p["spec"].get("restartPolicy", "Always"),
    "spec.schedulerName": lambda p: p["spec"].get("schedulerName", "default-scheduler"),
    "spec.serviceAccountName": lambda p: p["spec"].get("serviceAccountName", "default"),
    "status.phase": lambda p: p["status"].get("phase", ""),
    "status.podIP": lambda p: p["status"].get("podIP", ""),
    "status.nominatedNodeName": lambda p: p["status"].get("nominatedNodeName", ""),
}
_LABEL_SET = re.compile(
    r"^\s*(!)?\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9_.-]*))?\s*$"
)


class SelectorError(ValueError):
    pass


def pod(
    name: str,
    node: str,
    ip: str,
    namespace: str = "serving",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    ports: dict[str, int] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    """A pod object as the API server returns it inside a PodList."""
    container_ports = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in (ports or {}).items()]
    status: dict[str, Any] = {"phase": phase, "hostIP": "10.0.0.1", "startTime": "2026-07-01T10:00:00Z"}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")),
            "resourceVersion": "4711",
            "creationTimestamp": "2026-07-01T10:00:00Z",
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "tfserving", "image": "tensorflow/serving:2.14.0", "ports": container_ports}
            ],
        },
        "status": status,
    }


Predicate = Callable[[dict[str, Any]], bool]


def field_selector(selector: str) -> list[Predicate]:
    """Parse a field selector into one test per term; a bad term raises, as the server answers 400."""
    tests: list[Predicate] = []
    for term in filter(None, selector.split(",")):
        match = re.fullmatch(r"([^=!]+)(==|=|!=)(.*)", term)
        if match is None:
            raise SelectorError(f'invalid field selector: "{term}"')
        field, op, wanted = match.groups()
        if field not in POD_FIELDS:
            raise SelectorError(f"field label not supported: {field}")
        tests.append(partial(_field_is, POD_FIELDS[field], wanted, op != "!="))
    return tests


def _field_is(get: Callable[[dict[str, Any]], str], wanted: str, equal: bool, item: dict[str, Any]) -> bool:
    return (get(item) == wanted) == equal


def _label_in(key: str, members: set[str], inside: bool, labels: dict[str, str]) -> bool:
    return (labels.get(key) in members) == inside


def _label_is(key: str, wanted: str, equal: bool, labels: dict[str, str]) -> bool:
    return (labels.get(key) == wanted) == equal


def _label_exists(key: str, present: bool, labels: dict[str, str]) -> bool:
    return (key in labels) == present


def _split_label_selector(selector: str) -> list[str]:
    # Commas separate requirements, except inside the parentheses of a set.
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [t for t in [*terms, current] if t.strip()]


def label_selector(selector: str) -> list[Callable[[dict[str, str]], bool]]:
    """Parse a label selector (equality, in, notin, exists, !exists) into one test per requirement."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_label_selector(selector):
        match = _LABEL_SET.match(term)
        if match is None:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        negate, key, set_op, values, op, value = match.groups()
        if negate and (set_op or op):
            raise SelectorError(f"unable to parse requirement: {term!r}")
        if set_op:
            members = {v.strip() for v in values.split(",")}
            tests.append(partial(_label_in, key, members, set_op == "in"))
        elif op:
            tests.append(partial(_label_is, key, value, op in ("=", "==")))
        else:
            tests.append(partial(_label_exists, key, not negate))
    return tests


class FakeKubeAPI:
    """The fake API server on a loopback port; `url` is what a kubernetes Configuration's host takes."""

    def __init__(self, pods: list[dict[str, Any]] | None = None) -> None:
        self.pods = list(pods or [])
        self.requests: list[str] = []
        self.fail_with: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                code, body = fake.respond(self.path)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def respond(self, path: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        match = re.fullmatch(r"/api/v1(?:/namespaces/([^/]+))?/pods", parts.path)
        if match is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if self.fail_with is not None:
            return self.fail_with, _status(self.fail_with, "InternalError", "etcdserver: request timed out")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        namespace = match[1]
        try:
            fields = field_selector(query.get("fieldSelector", ""))
            labels = label_selector(query.get("labelSelector", ""))
        except SelectorError as exc:
            return 400, _status(400, "BadRequest", str(exc))
        items = [
            item
            for item in self.pods
            if (namespace is None or item["metadata"]["namespace"] == namespace)
            and all(test(item) for test in fields)
            and all(test(item["metadata"]["labels"]) for test in labels)
        ]
        return 200, {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "4712"},
            "items": items,
        }

    def __enter__(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def api_client(url: str) -> Any:
    """A real kubernetes ApiClient pointed at the fake."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    return client.ApiClient(configuration)
