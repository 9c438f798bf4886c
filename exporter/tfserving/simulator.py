"""A TF Serving simulator on HTTP: the REST API and metrics page with TF Serving's exact formats.

`python -m exporter.tfserving.simulator --port 8501 --model bert:16,17 --rps 20` serves two versions of
`bert` with synthetic traffic; tests and benchmarks use `TFServingSimulator` directly. Faults for tests:
`delay` (a slow instance), `fault` (one of FAULTS, for the metrics page) and `stop()` (dead). The routes
and faults are in `simulator_http`, the models and their traffic in `simulator_state`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from exporter.tfserving.simulator_http import SimServer
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState, failed_version

METRICS_PATH = "/monitoring/prometheus/metrics"
FAULTS = ("garbage", "truncated", "stall", "huge", "page_5xx", "status_5xx")


class TFServingSimulator:
    """One simulated TF Serving REST port on loopback; `url` is its base URL once started."""

    def __init__(
        self,
        state: TFServingState,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_path: str = METRICS_PATH,
        metrics_enabled: bool = True,
        delay: float = 0.0,
        fault: str | None = None,
        huge_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, got {fault!r}")
        self.state = state
        self.metrics_path = metrics_path
        self.metrics_enabled = metrics_enabled
        self.delay = delay
        self.fault = fault
        self.huge_bytes = huge_bytes
        self.stopping = threading.Event()
        self._server = SimServer((host, port))
        self._server.simulator = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"tfs-sim-{self.port}", daemon=True
        )

    def start(self) -> TFServingSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port: the instance is dead (connection refused)."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def __enter__(self) -> TFServingSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_delay(self) -> bool:
        """Hold the answer for `delay` seconds; False when the simulator stops meanwhile."""
        return not (self.delay and self.stopping.wait(self.delay))


def _model_arg(value: str) -> SimModel:
    """`bert` or `bert:16,17` (the newest is served; older ones unloaded, END)."""
    name, _, versions = value.partition(":")
    numbers = sorted(int(v) for v in versions.split(",")) if versions else [1]
    return SimModel(name, [SimVersion(v, state="AVAILABLE" if v == numbers[-1] else "END") for v in numbers])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.tfserving.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--model", action="append", type=_model_arg, help="NAME[:V1,V2] (repeatable)")
    parser.add_argument(
        "--fail-version",
        action="append",
        default=[],
        metavar="NAME:V",
        help="add a version of NAME that fails to load",
    )
    parser.add_argument("--latency-ms", type=float, default=5.0, help="median request latency")
    parser.add_argument(
        "--error-ratio",
        action="append",
        default=[],
        metavar="STATUS=RATIO",
        help="share of requests answered with a TF status, e.g. INVALID_ARGUMENT=0.02",
    )
    parser.add_argument(
        "--requests", type=int, default=0, help="synthetic requests per model served at start"
    )
    parser.add_argument("--rps", type=float, default=0.0, help="synthetic requests per second per model")
    parser.add_argument("--batching", action="store_true", help="report batch queuing latency")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds to hold every answer (a slow instance)"
    )
    parser.add_argument("--fault", choices=FAULTS, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    models = args.model or [_model_arg("half_plus_two")]
    by_name = {model.name: model for model in models}
    try:
        ratios = {
            status: float(ratio) for status, _, ratio in (item.partition("=") for item in args.error_ratio)
        }
        for item in args.fail_version:
            name, _, version = item.partition(":")
            by_name[name].versions.append(
                failed_version(int(version), f"{by_name[name].base_path}/{version}")
            )
    except (ValueError, KeyError) as exc:
        parser.error(f"bad --error-ratio or --fail-version: {exc}")
    for model in models:
        model.latency_median_us = args.latency_ms * 1000
        model.error_ratios = ratios
    state = TFServingState(models, seed=args.seed, batching=args.batching)
    for model in models:
        state.simulate(model.name, args.requests)
    sim = TFServingSimulator(state, args.host, args.port, delay=args.delay, fault=args.fault).start()
    print(f"tfserving simulator listening on {sim.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    carry = 0.0
    while not stop.wait(1.0):
        carry += args.rps  # fractional rates accumulate, so 0.5 rps is one request every other second
        count, carry = int(carry), carry % 1
        for model in models:
            state.simulate(model.name, count)
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
