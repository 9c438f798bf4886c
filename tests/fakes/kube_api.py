"""Moved to `exporter.simulators.kubernetes` (the demo stack runs it too); kept for branches in flight."""

from exporter.simulators.kubernetes import FakeKubeAPI, api_client, pod

__all__ = ["FakeKubeAPI", "api_client", "pod"]
