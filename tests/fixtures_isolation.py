"""Isolation fixtures: the fake GPU node's collector, whose series a hostile neighbour must not touch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.collector import Collector
from tests.gpu_support import rig

BUILD_LABELS = {"version": "0", "python_version": "3", "node": "n", "gpu_backend": "fake"}


@pytest.fixture
def fake_gpu() -> Iterator[Collector]:
    """The collector of the fake 8x H100 node."""
    with rig("h100-8x") as setup:
        yield setup.collector


def gpu_series(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    """The names of the GPU series in parsed samples (values move between scrapes; names must not go)."""
    return {name for name, _ in samples if name.startswith("nvidia_gpu_")}
