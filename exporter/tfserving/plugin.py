"""The `tfserving` plugin: flags, the `tfserving:` config section, and building the collector.

Quick use: `--collector.tfserving --tfserving.target=http://127.0.0.1:8501 --tfserving.model=bert`.
The config file holds many targets with their own options, and Kubernetes discovery:

    tfserving:
      timeout: 2                 # seconds per target, the default for every target
      targets:
        - url: http://10.0.0.5:8501
          models: [bert, resnet]
          metrics_path: /monitoring/prometheus/metrics
          timeout: 1.5
      kubernetes:
        enabled: true            # TF Serving pods on NODE_NAME
        label_selector: app=tf-serving
        port_name: http
        models_annotation: mlobs.io/tfserving-models
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from exporter import __version__
from exporter.kube.pods import PodLister, in_cluster_api_client
from exporter.plugin import BuildContext
from exporter.redact import redact_uri
from exporter.tfserving.discovery import MODEL_NAME, KubernetesSettings, PodTargets
from exporter.tfserving.targets import DEFAULT_METRICS_PATH, Target
from exporter.validate import Section

if TYPE_CHECKING:
    from exporter.tfserving.collector import TFServingCollector
    from exporter.tfserving.http import HTTPPool

WORKERS = 32
# Static targets per exporter; more is a mistake (or a generated file gone wrong) that would stall the start.
MAX_TARGETS = 1000


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


def _models(section: Section, key: str) -> tuple[str, ...]:
    models = section.strings(key)
    for name in models:
        if not MODEL_NAME.match(name):
            section.problem(key, f"{name!r} is not a model name (no '/', ':' or spaces)")
    return models


def _path(section: Section, key: str, default: str) -> str:
    path = section.string(key, default) or default
    if not path.startswith("/"):
        section.problem(key, f"{path!r} must start with /")
    return path


def _kubernetes(
    section: Section, args: argparse.Namespace, timeout: float, node_name: str, enabled: bool
) -> KubernetesSettings:
    """The `kubernetes:` section; the --tfserving.kubernetes* flags (the GPU DaemonSet's) win over it."""
    # Every key is read (unknown keys are errors), then a flag given replaces its value.
    on = section.boolean("enabled", False)
    selector = section.string("label_selector", "") or ""
    namespace = section.string("namespace", "") or ""
    kube = KubernetesSettings(
        enabled=on if args.tfserving_kubernetes is None else args.tfserving_kubernetes,
        label_selector=selector if args.tfserving_kube_selector is None else args.tfserving_kube_selector,
        port_name=section.string("port_name", "http") or "http",
        models_annotation=section.string("models_annotation", KubernetesSettings.models_annotation) or "",
        namespace=namespace if args.tfserving_kube_namespace is None else args.tfserving_kube_namespace,
        scheme=section.string("scheme", "http", choices=("http", "https")) or "http",
        metrics_path=_path(section, "metrics_path", DEFAULT_METRICS_PATH),
        timeout=section.number("timeout", timeout, positive=True),
        refresh_interval=section.number("refresh_interval", 30.0, minimum=0),
        kubeconfig=section.string("kubeconfig", "") or "",
    )
    section.reject_unknown()
    if enabled and kube.enabled and not node_name:
        section.problem("enabled", "discovery needs NODE_NAME (set it from the downward API: spec.nodeName)")
    return kube


class TFServingPlugin:
    name = "tfserving"
    default_enabled = False
    description = "TensorFlow Serving latency, errors and model versions"

    def __init__(
        self,
        pool_factory: Callable[[Callable[[], float]], HTTPPool] | None = None,
        kube_api_client: Callable[[], Any] | None = None,
    ) -> None:
        # Boundaries, swappable in tests: the HTTP pool (given the clock) and the Kubernetes ApiClient.
        self._pool_factory = pool_factory or default_pool
        self._kube_api_client = kube_api_client

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("tfserving")
        group.add_argument(
            "--tfserving.target",
            dest="tfserving_targets",
            action="append",
            default=None,
            metavar="URL",
            help="TF Serving REST base URL (repeatable), e.g. http://127.0.0.1:8501",
        )
        group.add_argument(
            "--tfserving.model",
            dest="tfserving_models",
            action="append",
            default=None,
            metavar="NAME",
            help="model served by the --tfserving.target URLs (repeatable)",
        )
        group.add_argument(
            "--tfserving.timeout",
            dest="tfserving_timeout",
            default=None,
            metavar="SECONDS",
            help="per-target timeout of each scrape (default 2)",
        )
        group.add_argument(
            "--tfserving.metrics-path",
            dest="tfserving_metrics_path",
            default=None,
            metavar="PATH",
            help=f"TF Serving's metrics page (default {DEFAULT_METRICS_PATH})",
        )
        group.add_argument(
            "--tfserving.kubernetes",
            dest="tfserving_kubernetes",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="discover TF Serving pods on this node (NODE_NAME) through the Kubernetes API",
        )
        group.add_argument(
            "--tfserving.kubernetes.label-selector",
            dest="tfserving_kube_selector",
            default=None,
            metavar="SELECTOR",
            help="label selector of TF Serving pods, e.g. app=tf-serving (default: every pod on the node)",
        )
        group.add_argument(
            "--tfserving.kubernetes.namespace",
            dest="tfserving_kube_namespace",
            default=None,
            metavar="NAMESPACE",
            help="namespace of the TF Serving pods (default: every namespace)",
        )

    def configure(
        self, args: argparse.Namespace, section: Section, environ: Mapping[str, str], enabled: bool
    ) -> TFServingSettings:
        timeout = section.number("timeout", 2.0, positive=True)
        if args.tfserving_timeout is not None:
            try:
                timeout = float(args.tfserving_timeout)
                if not 0 < timeout < float("inf"):
                    raise ValueError
            except ValueError:
                section.problems.append(
                    f"--tfserving.timeout: {args.tfserving_timeout!r} is not a positive number of seconds"
                )
                timeout = 2.0
        metrics_path = _path(section, "metrics_path", DEFAULT_METRICS_PATH)
        if args.tfserving_metrics_path is not None:
            metrics_path = args.tfserving_metrics_path
            if not metrics_path.startswith("/"):
                section.problems.append(f"--tfserving.metrics-path: {metrics_path!r} must start with /")
        configured = section.data.get("targets")
        too_many = isinstance(configured, list) and len(configured) > MAX_TARGETS  # sections() says so
        items = section.sections("targets", limit=MAX_TARGETS)
        targets = [self._target(item, metrics_path, timeout) for item in items]
        flag_targets = args.tfserving_targets or []
        if len(targets) + len(flag_targets) > MAX_TARGETS:
            section.problems.append(f"tfserving: more than {MAX_TARGETS} targets")
            flag_targets, too_many = [], True
        for value in flag_targets:
            url, problem = check_url(value)
            if problem:
                section.problems.append(f"--tfserving.target: {problem}")
            targets.append(Target(url, tuple(args.tfserving_models or ()), metrics_path, timeout))
        for name in args.tfserving_models or ():
            if not MODEL_NAME.match(name):
                section.problems.append(
                    f"--tfserving.model: {name!r} is not a model name (no '/', ':' or spaces)"
                )
        if args.tfserving_models and not args.tfserving_targets:
            section.problems.append("--tfserving.model: needs at least one --tfserving.target")
        urls = [t.url for t in targets if t.url]
        for url in sorted({u for u in urls if urls.count(u) > 1}):
            section.problems.append(f"tfserving: target {url} is listed twice")
        node_name = environ.get("NODE_NAME", "")
        kube = _kubernetes(section.section("kubernetes"), args, timeout, node_name, enabled)
        settings = TFServingSettings(
            targets=tuple(targets),
            kubernetes=kube,
            max_body_bytes=section.integer("max_body_bytes", TFServingSettings.max_body_bytes, minimum=1024),
            max_models=section.integer("max_models", TFServingSettings.max_models, minimum=1),
        )
        if enabled and not targets and not kube.enabled and not too_many:
            section.problems.append(
                "tfserving: no targets: pass --tfserving.target=URL, or set tfserving.targets or "
                "tfserving.kubernetes.enabled in the config file"
            )
        return settings

    @staticmethod
    def _target(item: Section, metrics_path: str, timeout: float) -> Target:
        raw = item.string("url")
        url, problem = check_url(raw) if raw else ("", "is required")
        if problem:
            item.problem("url", problem)
        target = Target(
            url=url,
            models=_models(item, "models"),
            metrics_path=_path(item, "metrics_path", metrics_path),
            timeout=item.number("timeout", timeout, positive=True),
        )
        item.reject_unknown()
        return target

    def build(self, settings: TFServingSettings, ctx: BuildContext) -> TFServingCollector:
        # Only when the collector is enabled: the HTTP client loads http.client and ssl.
        from exporter.tfserving.collector import TFServingCollector
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
