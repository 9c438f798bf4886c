"""The registry of collector plugins, in build order (attribution joins collectors built before it)."""

from __future__ import annotations

from exporter.attribution.plugin import ATTRIBUTION_PLUGIN
from exporter.gpu.plugin import GPU_PLUGIN
from exporter.mlflow.plugin import MLFLOW_PLUGIN
from exporter.plugin import Plugin
from exporter.tfserving.plugin import TFSERVING_PLUGIN

PLUGINS: tuple[Plugin, ...] = (GPU_PLUGIN, MLFLOW_PLUGIN, TFSERVING_PLUGIN, ATTRIBUTION_PLUGIN)
