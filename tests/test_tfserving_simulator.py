"""The simulator speaks TF Serving's exact formats, checked against real responses recorded from it."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable

from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState, failed_version
from tests.fixtures_tfserving import SimFactory, two_models
from tests.helpers import http_get


def test_status_body_is_byte_for_byte_the_real_one(
    make_sim: SimFactory, tfs_fixture: Callable[[str], str]
) -> None:
    sim = make_sim(TFServingState([SimModel("half_plus_two", [SimVersion(123)])]))
    status, headers, body = http_get(f"{sim.url}/v1/models/half_plus_two")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == tfs_fixture("tfserving_status_single_available.json")


def test_metadata_envelope_is_byte_for_byte_the_real_one(
    make_sim: SimFactory, tfs_fixture: Callable[[str], str]
) -> None:
    real = tfs_fixture("tfserving_metadata_half_plus_two_2_versions.json")
    signatures = json.loads(real)["metadata"]["signature_def"]["signature_def"]
    model = SimModel("saved_model_half_plus_two_2_versions", [SimVersion(123)], signature_def=signatures)
    sim = make_sim(TFServingState([model]))
    assert http_get(f"{sim.url}/v1/models/saved_model_half_plus_two_2_versions/metadata")[2] == real


def test_load_metrics_lines_are_the_real_ones(tfs_fixture: Callable[[str], str]) -> None:
    real = tfs_fixture("tfserving_metrics_2020_bert_two_versions.txt").splitlines()
    bert = SimModel(
        "bert",
        [
            SimVersion(
                16, load_latency_us=8021486, load_stages_us={"init_graph": 340650, "restore_graph": 7680720}
            ),
            SimVersion(
                17, load_latency_us=7960377, load_stages_us={"init_graph": 325202, "restore_graph": 7635050}
            ),
        ],
    )
    page = TFServingState([bert]).page().splitlines()
    real_load = [line for line in real if ":saved_model:" in line]
    assert len(real_load) == 3 + 2 + 2 + 4 * 36  # TYPE lines, attempts, latencies, 4 histograms
    assert [line for line in page if ":saved_model:" in line] == real_load


def test_page_has_the_real_format_quirks(make_sim: SimFactory) -> None:
    sim = make_sim()
    status, headers, text = http_get(sim.url + "/monitoring/prometheus/metrics")
    assert status == 200 and headers["Content-Type"] == "text/plain"
    lines = text.splitlines()
    assert text.endswith("\n") and not any(line.startswith("# HELP") for line in lines)
    names = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert names == sorted(names, key=lambda n: n.replace(":", "/")) and all(n.startswith(":") for n in names)
    assert ":tensorflow:core:graph_runs{} " in text
    assert re.search(
        r'request_latency_sum\{model_name="bert",API="predict",entrypoint="REST"\} \d\.\d+e\+0\d\n', text
    )
    assert "# TYPE :tensorflow:serving:model_warmup_latency histogram\n# TYPE" in text


def test_errors_use_tf_bodies_and_http_codes(make_sim: SimFactory) -> None:
    sim = make_sim()
    status, headers, body = http_get(f"{sim.url}/v1/models/nope")
    assert (status, headers["Content-Type"]) == (404, "application/json")
    assert body == '{ "error": "Could not find any versions of model nope" }'
    assert http_get(f"{sim.url}/v1/models/bert/versions/99")[2] == (
        '{ "error": "Could not find version 99 of model bert" }'
    )
    assert http_get(f"{sim.url}/somewhere")[0] == 404
    sim.metrics_enabled = False  # a server started without --monitoring_config_file
    assert http_get(sim.url + "/monitoring/prometheus/metrics")[0] == 404


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_predict_serves_and_counts_like_tf_serving(make_sim: SimFactory) -> None:
    state = TFServingState(
        [SimModel("half_plus_two"), SimModel("busy", error_ratios={"RESOURCE_EXHAUSTED": 1.0})]
    )
    sim = make_sim(state)
    assert _post(f"{sim.url}/v1/models/half_plus_two:predict", b'{"instances": [1.0, 2.0, 5.0]}') == (
        200,
        '{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}',
    )
    assert _post(f"{sim.url}/v1/models/busy:predict", b'{"instances": [1.0]}')[0] == 429
    assert _post(f"{sim.url}/v1/models/half_plus_two:predict", b"not json")[0] == 400
    page = state.page()
    assert ':tensorflow:serving:request_count{model_name="busy",status="RESOURCE_EXHAUSTED"} 1\n' in page
    assert (
        ':tensorflow:serving:request_count{model_name="half_plus_two",status="INVALID_ARGUMENT"} 1\n' in page
    )
    assert 'request_latency_count{model_name="half_plus_two",API="predict",entrypoint="REST"} 1\n' in page


def test_status_polls_count_as_requests_with_empty_api(make_sim: SimFactory) -> None:
    state = TFServingState([SimModel("m")])
    sim = make_sim(state)
    http_get(f"{sim.url}/v1/models/m")
    http_get(f"{sim.url}/v1/models/m/metadata")
    page = state.page()
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 2\n' in page
    assert 'request_latency_count{model_name="m",API="",entrypoint="REST"} 2\n' in page


def test_error_ratio_is_honoured() -> None:
    state = TFServingState(
        [SimModel("m", error_ratios={"INVALID_ARGUMENT": 0.2, "UNAVAILABLE": 0.1})], seed=3
    )
    statuses = state.simulate("m", 2000)
    assert 0.17 < statuses.count("INVALID_ARGUMENT") / 2000 < 0.23
    assert 0.08 < statuses.count("UNAVAILABLE") / 2000 < 0.12


def test_failed_version_reports_end_with_error_and_failed_attempts(make_sim: SimFactory) -> None:
    state = TFServingState([SimModel("bert", [SimVersion(17), failed_version(18, "/models/bert/18")])])
    sim = make_sim(state)
    newest = json.loads(http_get(f"{sim.url}/v1/models/bert")[2])["model_version_status"][0]
    assert newest["version"] == "18" and newest["state"] == "END"
    assert newest["status"]["error_code"] == "NOT_FOUND"
    assert (
        ':tensorflow:cc:saved_model:load_attempt_count{model_path="/models/bert/18",status="fail"} 6\n'
        in state.page()
    )


def test_same_seed_same_page() -> None:
    assert two_models(seed=5).page() == two_models(seed=5).page()
    assert two_models(seed=5).page() != two_models(seed=6).page()
