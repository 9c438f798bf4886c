"""The registry of collector plugins, in build order (attribution joins collectors built before it)."""

from __future__ import annotations

from exporter.collectors.attribution_plugin import ATTRIBUTION_PLUGIN
from exporter.collectors.gpu_plugin import GPU_PLUGIN
from exporter.collectors.mlflow_plugin import MLFLOW_PLUGIN
from exporter.collectors.tfserving_plugin import TFSERVING_PLUGIN
from exporter.plugin import Plugin

PLUGINS: tuple[Plugin, ...] = (GPU_PLUGIN, MLFLOW_PLUGIN, TFSERVING_PLUGIN, ATTRIBUTION_PLUGIN)
