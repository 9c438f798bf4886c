"""Property tests of a whole scrape: whatever bytes a TF Serving answers, its collector does not raise and
the GPU collector beside it keeps every series; the page stays valid text format.

`make test` runs a few dozen examples each; `make fuzz` runs thousands (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.catalogue.families import FamilySet
from exporter.collector import Collector, IsolatingCollector
from exporter.tfserving.collector import TFServingCollector
from exporter.tfserving.source import STATES, TFServingClient
from exporter.tfserving.targets import DEFAULT_METRICS_PATH, Target
from tests.fakes.tfserving_pool import FakePool
from tests.fixtures_isolation import BUILD_LABELS, gpu_series
from tests.fixtures_tfserving import two_models
from tests.gpu_support import rig
from tests.helpers import samples

PAGE = two_models().page()
STATUS = two_models().status("bert")[1].encode()


@pytest.fixture(scope="module")
def gpu_node() -> Iterator[tuple[Collector, set[str]]]:
    """The fake GPU node's collector (one for all examples) and the series names it serves alone."""
    with rig("h100-8x") as setup:
        alone = IsolatingCollector([setup.collector], BUILD_LABELS).render().decode()
        yield setup.collector, gpu_series(samples(alone))


def _scrape(gpu: Collector, page: bytes, status: bytes) -> str:
    """One scrape of the GPU collector beside a TF Serving collector whose server answers these bodies."""
    pool = FakePool({DEFAULT_METRICS_PATH: (200, page), "/v1/models/bert": (200, status)})
    client = TFServingClient(pool, 1 << 20)  # type: ignore[arg-type]
    tfserving = TFServingCollector(client, [Target("http://tfs:8501", ("bert",))], workers=1)
    try:
        assert tfserving.collect(FamilySet()) in (True, False)  # never raises
        return IsolatingCollector([gpu, tfserving], BUILD_LABELS).render().decode("utf-8")
    finally:
        tfserving.close()


def _check(text: str, gpu_names: set[str]) -> None:
    parsed = samples(text)  # prometheus-client's parser reads the whole page
    assert gpu_series(parsed) == gpu_names
    assert parsed[("mlobs_collector_success", frozenset({("collector", "gpu")}))] == 1
    assert parsed[("mlobs_collector_success", frozenset({("collector", "tfserving")}))] in (0, 1)
    # The TF Serving collector did not fail as a whole: its always-present series are there.
    assert any(name == "tfserving_target_scrape_success" for name, _ in parsed)
    assert all(not math.isnan(v) for (name, _), v in parsed.items() if name.endswith("_total"))


def _edited(data: bytes, cut: int, insert: bytes) -> bytes:
    at = cut % (len(data) + 1)
    return data[:at] + insert + data[at:]


pages = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.builds(_edited, st.just(PAGE.encode()), st.integers(0, 10**6), st.binary(max_size=50)),
)


@given(pages)
def test_any_page_bytes_leave_the_neighbours_series_whole(
    gpu_node: tuple[Collector, set[str]], page: bytes
) -> None:
    gpu, names = gpu_node
    _check(_scrape(gpu, page, STATUS), names)


# Any text, lone surrogates (valid as JSON escapes) and controls included, and known troublemakers.
hostile_text = st.one_of(
    st.sampled_from(["\ud800", "\udfff\x00", "\x1b[2J", "a" * 5000, ""]),
    st.text(st.characters(categories=["Cs", "Cc", "Zl", "L", "N", "P", "S"]), max_size=300),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)
# Mostly well-formed entries (so that hostile text reaches the labels), sometimes anything at all.
versions = st.integers(0, 10**20).map(str)
error_codes = st.sampled_from(["NOT_FOUND", "OK"]) | hostile_text
version_entries = st.fixed_dictionaries(
    {
        "version": st.one_of(versions, versions, json_values),
        "state": st.one_of(st.sampled_from(STATES), st.sampled_from(STATES), json_values),
        "status": st.one_of(
            st.fixed_dictionaries(
                {
                    "error_code": st.sampled_from(["NOT_FOUND", "OK"]) | hostile_text,
                    "error_message": hostile_text,
                }
            ),
            json_values,
        ),
    }
)
statuses = st.one_of(
    st.builds(lambda entries: {"model_version_status": entries}, st.lists(version_entries, max_size=4)),
    json_values,
).map(lambda data: json.dumps(data).encode())


@given(statuses | st.binary(max_size=500))
def test_any_status_body_leaves_the_neighbours_series_whole(
    gpu_node: tuple[Collector, set[str]], status: bytes
) -> None:
    gpu, names = gpu_node
    _check(_scrape(gpu, PAGE.encode(), status), names)
