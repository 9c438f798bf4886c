"""The registry of collector plugins, in flag and docs order; the build order follows their dependencies."""

from __future__ import annotations

from exporter.attribution.plugin import ATTRIBUTION_PLUGIN
from exporter.gpu.plugin import GPU_PLUGIN
from exporter.mlflow.plugin import MLFLOW_PLUGIN
from exporter.plugin import Plugin
from exporter.plugin_order import registry
from exporter.tfserving.plugin import TFSERVING_PLUGIN

PLUGINS: tuple[Plugin, ...] = registry(GPU_PLUGIN, MLFLOW_PLUGIN, TFSERVING_PLUGIN, ATTRIBUTION_PLUGIN)
