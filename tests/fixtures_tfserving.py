"""TF Serving test fixtures: simulators on loopback, recorded real responses, a fake Kubernetes API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.kube.fake_api import FakeKubeAPI
from exporter.tfserving.simulator import TFServingSimulator
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState

TFSERVING_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tfserving"

SimFactory = Callable[..., TFServingSimulator]


def two_models(seed: int = 0) -> TFServingState:
    """bert serving version 17 (16 unloaded), resnet serving version 3; some traffic on both."""
    state = TFServingState(
        [
            SimModel(
                "bert", [SimVersion(16, state="END"), SimVersion(17)], error_ratios={"INVALID_ARGUMENT": 0.1}
            ),
            SimModel("resnet", [SimVersion(3)], latency_median_us=20_000),
        ],
        seed=seed,
    )
    state.simulate("bert", 200)
    state.simulate("resnet", 50, api="Predict", entrypoint="GRPC")
    return state


@pytest.fixture
def tfs_fixture() -> Callable[[str], str]:
    """Read one of the recorded real TF Serving responses."""
    return lambda name: (TFSERVING_FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    """Start simulators; all are stopped at teardown (those a test killed already are skipped)."""
    started: list[TFServingSimulator] = []

    def factory(state: TFServingState | None = None, **options: Any) -> TFServingSimulator:
        sim = TFServingSimulator(state or two_models(), **options).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        if not sim.stopping.is_set():
            sim.stop()


@pytest.fixture
def kube_api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake
