"""The `tfserving` plugin: its options, and building the collector.

Quick use: `--collector.tfserving --tfserving.target=http://127.0.0.1:8501 --tfserving.model=bert`.
The config file holds many targets with their own options, and Kubernetes discovery (OPTIONS below;
docs/exporter-config.md lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from exporter import __version__
from exporter.option_values import Values, read_item
from exporter.options import Boolean, Duration, Integer, Option, Records, Strings, Text
from exporter.plugin import BuildContext
from exporter.redact import redact_uri
from exporter.tfserving.discovery import MODEL_NAME, KubernetesSettings
from exporter.tfserving.targets import DEFAULT_METRICS_PATH, Target
from exporter.validate import Section

if TYPE_CHECKING:
    from exporter.tfserving.collector import TFServingCollector
    from exporter.tfserving.http import HTTPPool

WORKERS = 32
# Static targets per exporter; more is a mistake (or a generated file gone wrong) that would stall the start.
MAX_TARGETS = 1000
_PATH = Text(rooted=True)
_SECONDS = Duration()
_KUBE = KubernetesSettings

OPTIONS = (
    Option(
        "targets", Records(MAX_TARGETS, ("url", "models", "metrics_path", "timeout")), (),
        "static TF Serving instances: url (required), models, and metrics_path and timeout (default: "
        "the ones below); --tfserving.target adds more",
        example=({"url": "http://127.0.0.1:8501", "models": ["fraud-detector", "ranker"]},),
    ),
    Option(
        "target", Strings(), (), "TF Serving REST base URL, e.g. http://127.0.0.1:8501",
        in_config=False, metavar="URL",
    ),
    Option(
        "model", Strings(), (), "model served by the --tfserving.target URLs", in_config=False,
        metavar="NAME",
    ),
    Option("timeout", _SECONDS, 2.0, "per target and scrape; the default of every target"),
    Option(
        "metrics_path", _PATH, DEFAULT_METRICS_PATH, "TF Serving's metrics page; the default of every target"
    ),
    Option(
        "max_body_bytes", Integer(minimum=1024), 16 * 1024 * 1024, "largest metrics page read per target",
        unit="bytes", flag=None,
    ),
    Option("max_models", Integer(minimum=1), 100, "models followed per target", flag=None),
    Option(
        "kubernetes.enabled", Boolean(), False,
        "discover TF Serving pods on this node (NODE_NAME) through the Kubernetes API",
        flag="--tfserving.kubernetes",
    ),
    Option(
        "kubernetes.label_selector", Text(), _KUBE.label_selector, "label selector of TF Serving pods",
        default_text="every pod on the node", example="app.kubernetes.io/name=tfserving",
    ),
    Option(
        "kubernetes.namespace", Text(), _KUBE.namespace, "namespace of the TF Serving pods",
        default_text="every namespace", example="serving", commented=True,
    ),
    Option("kubernetes.port_name", Text(), _KUBE.port_name, "the pod's REST port, by name", flag=None),
    Option(
        "kubernetes.models_annotation", Text(), _KUBE.models_annotation,
        "pod annotation with its comma-separated model names", flag=None,
    ),
    Option(
        "kubernetes.scheme", Text(choices=("http", "https")), _KUBE.scheme, "scheme of the pods' REST port",
        flag=None,
    ),
    Option(
        "kubernetes.metrics_path", _PATH, DEFAULT_METRICS_PATH, "TF Serving's metrics page on the pods",
        flag=None,
    ),
    Option(
        "kubernetes.timeout", _SECONDS, None, "limit of each pod list and each pod's scrape",
        flag=None, default_text="tfserving.timeout", example=2.0, commented=True,
    ),
    Option(
        "kubernetes.refresh_interval", Duration(positive=False), _KUBE.refresh_interval,
        "how often the pod list is read again (0: on every scrape)", flag=None,
    ),
    Option(
        "kubernetes.kubeconfig", Text(), _KUBE.kubeconfig, "kubeconfig file, outside a cluster only",
        flag=None, default_text="in-cluster", example="/root/.kube/config", commented=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class TFServingSettings:
    targets: tuple[Target, ...]
    kubernetes: KubernetesSettings
    max_body_bytes: int = 16 * 1024 * 1024
    max_models: int = 100


def check_url(value: str) -> tuple[str, str]:
    """Normalise a REST base URL; returns (url, problem), one of them empty."""
    shown = repr(redact_uri(value))
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "", f"{shown} is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "", f"{shown} must be an http or https URL with a host, e.g. http://10.0.0.5:8501"
    if parts.username or parts.password:
        return "", "credentials in the URL are not supported (the URL is a label value)"
    if parts.query or parts.fragment:
        return "", f"{shown} must not have a query or fragment"
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", ""


def _bad_models(models: tuple[str, ...]) -> list[str]:
    return [
        f"{name!r} is not a model name (no '/', ':' or spaces)"
        for name in models
        if not MODEL_NAME.match(name)
    ]


def _kubernetes(values: Values, timeout: float, node_name: str, enabled: bool) -> KubernetesSettings:
    kube = KubernetesSettings(
        enabled=values["kubernetes.enabled"],
        label_selector=values["kubernetes.label_selector"],
        port_name=values["kubernetes.port_name"],
        models_annotation=values["kubernetes.models_annotation"],
        namespace=values["kubernetes.namespace"],
        scheme=values["kubernetes.scheme"],
        metrics_path=values["kubernetes.metrics_path"],
        timeout=timeout if values["kubernetes.timeout"] is None else values["kubernetes.timeout"],
        refresh_interval=values["kubernetes.refresh_interval"],
        kubeconfig=values["kubernetes.kubeconfig"],
    )
    if enabled and kube.enabled and not node_name:
        values.problem(
            "kubernetes.enabled", "discovery needs NODE_NAME (set it from the downward API: spec.nodeName)"
        )
    return kube


class TFServingPlugin:
    name = "tfserving"
    default_enabled = False
    description = "TensorFlow Serving latency, errors and model versions"
    options: tuple[Option, ...] = OPTIONS
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(
        self,
        pool_factory: Callable[[Callable[[], float]], HTTPPool] | None = None,
        kube_api_client: Callable[[], Any] | None = None,
    ) -> None:
        # Boundaries, swappable in tests: the HTTP pool (given the clock) and the Kubernetes ApiClient.
        self._pool_factory = pool_factory or default_pool
        self._kube_api_client = kube_api_client

    def configure(self, values: Values, environ: Mapping[str, str], enabled: bool) -> TFServingSettings:
        problems = values.problems
        timeout, metrics_path = values["timeout"], values["metrics_path"]
        items = [
            Section(item, f"{values.path('targets')}[{i}]", problems)
            for i, item in enumerate(values["targets"])
        ]
        targets = [self._target(item, metrics_path, timeout) for item in items]
        too_many = values.refused("targets")
        flag_targets, models = values["target"], values["model"]
        if len(targets) + len(flag_targets) > MAX_TARGETS:
            problems.append(f"tfserving: more than {MAX_TARGETS} targets")
            flag_targets, too_many = (), True
        for value in flag_targets:
            url, problem = check_url(value)
            if problem:
                values.problem("target", problem)
            targets.append(Target(url, models, metrics_path, timeout))
        for problem in _bad_models(models):
            values.problem("model", problem)
        if models and not values["target"]:
            values.problem("model", "needs at least one --tfserving.target")
        urls = [t.url for t in targets if t.url]
        for url in sorted({u for u in urls if urls.count(u) > 1}):
            problems.append(f"tfserving: target {url} is listed twice")
        kube = _kubernetes(values, timeout, environ.get("NODE_NAME", ""), enabled)
        if enabled and not targets and not kube.enabled and not too_many:
            problems.append(
                "tfserving: no targets: pass --tfserving.target=URL, or set tfserving.targets or "
                "tfserving.kubernetes.enabled in the config file"
            )
        return TFServingSettings(tuple(targets), kube, values["max_body_bytes"], values["max_models"])

    @staticmethod
    def _target(item: Section, metrics_path: str, timeout: float) -> Target:
        url = read_item(item, "url", Text(), "")
        url, problem = check_url(url) if url else ("", "is required")
        if problem:
            item.problem("url", problem)
        models = read_item(item, "models", Strings(), ())
        for problem in _bad_models(models):
            item.problem("models", problem)
        target = Target(
            url=url,
            models=models,
            metrics_path=read_item(item, "metrics_path", _PATH, metrics_path),
            timeout=read_item(item, "timeout", _SECONDS, timeout),
        )
        item.reject_unknown()
        return target

    def build(self, settings: TFServingSettings, ctx: BuildContext) -> TFServingCollector:
        from exporter.kube.pods import PodLister, in_cluster_api_client
        from exporter.tfserving.collector import TFServingCollector
        from exporter.tfserving.discovery import PodTargets
        from exporter.tfserving.source import TFServingClient

        client = TFServingClient(self._pool_factory(ctx.clock), settings.max_body_bytes)
        discovery = None
        kube = settings.kubernetes
        if kube.enabled:
            factory = self._kube_api_client or (lambda: in_cluster_api_client(kube.kubeconfig))
            lister = PodLister(
                factory, ctx.node_name, kube.label_selector, kube.namespace, timeout=kube.timeout
            )
            discovery = PodTargets(lister, kube, ctx.clock, ctx.log)
        return TFServingCollector(
            client,
            settings.targets,
            discovery,
            settings.max_models,
            WORKERS,
            ctx.clock,
            ctx.wall_clock,
            ctx.log,
        )


def default_pool(clock: Callable[[], float]) -> HTTPPool:
    """One pool for every target: a kept-alive connection per worker; no proxies (pod IPs are local)."""
    from exporter.tfserving.http import HTTPPool

    return HTTPPool(user_agent=f"mlobs-exporter/{__version__}", max_idle_per_host=WORKERS, clock=clock)


TFSERVING_PLUGIN = TFServingPlugin()
