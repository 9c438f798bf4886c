"""Moved to `exporter.simulators.kubelet` (the local demo stack runs it too); kept for branches in flight."""

from exporter.simulators.kubelet import FakeContainer, FakeKubelet, FakePod, response

__all__ = ["FakeContainer", "FakeKubelet", "FakePod", "response"]
