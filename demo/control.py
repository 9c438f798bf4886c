"""The demo's fault switches: one command language for the interactive prompt and for `python -m demo fault`,
which reaches a running demo through a loopback control endpoint."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from demo.loopback import LoopbackServer, QuietHandler
from demo.stack import LATENCY_MS, Stack

HELP = """\
  xid [GPU]        XID 79 on a GPU (default 7): it falls off the bus; MLObsGpuXid*/GpuLost alerts follow
  throttle [GPU]   hardware thermal slowdown on a GPU (default 6)
  latency [MODEL]  P95 latency of a model far over the 100 ms target (default fraud-detector)
  load-failure [MODEL]  a new version of a model that fails to load (default ranking)
  drift [MODEL]    PSI drift past the critical threshold logged to MLflow (default fraud-detector)
  mlflow-stop      stop the MLflow tracking server (registry unreachable); mlflow-start brings it back
  clear            healthy GPUs and normal latency again
  alerts           alerts Prometheus has pending or firing
  urls             where everything is
  quit             stop everything (Ctrl-C does the same)"""
DEFAULT_MODEL = next(iter(LATENCY_MS))


def state_file() -> Path:
    """Where a running demo leaves its control URL for `python -m demo fault`."""
    return Path(tempfile.gettempdir()) / f"mlobs-demo-{os.getuid()}.json"


def urls(stack: Stack) -> str:
    return "\n".join(f"  {name:<17} {url}" for name, url in stack.urls.items())


def firing(stack: Stack) -> str:
    found = stack.prom.alerts()
    lines = [
        f"  {a['state']:<8} {a['labels'].get('alertname')} "
        + ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()) if k not in ("alertname", "job"))
        for a in found
    ]
    return "\n".join(sorted(lines)) or "  none"


def _gpu(args: Sequence[str], default: int) -> int:
    return int(args[0]) if args else default


def _model(args: Sequence[str]) -> str:
    return args[0] if args else DEFAULT_MODEL


def _xid(stack: Stack, args: Sequence[str]) -> str:
    stack.inject_xid(_gpu(args, 7), 79)
    return f"XID 79 on GPU {_gpu(args, 7)} in 2 s (the GPU exporter restarted with it scheduled)"


def _throttle(stack: Stack, args: Sequence[str]) -> str:
    stack.inject_throttle(_gpu(args, 6))
    return f"GPU {_gpu(args, 6)} held down by hw_thermal"


def _latency(stack: Stack, args: Sequence[str]) -> str:
    stack.latency_spike(_model(args))
    return f"{_model(args)} now answers slowly"


def _load_failure(stack: Stack, args: Sequence[str]) -> str:
    model = args[0] if args else "ranking"
    return f"{model} version {stack.fail_model_load(model)} fails to load (6 attempts, 2 s apart)"


def _drift(stack: Stack, args: Sequence[str]) -> str:
    return f"psi {stack.log_drift(_model(args)):g} logged to MLflow for {_model(args)}"


def _mlflow_stop(stack: Stack, args: Sequence[str]) -> str:
    stack.stop_mlflow()
    return "MLflow stopped"


def _mlflow_start(stack: Stack, args: Sequence[str]) -> str:
    stack.start_mlflow()
    return "MLflow started"


def _clear(stack: Stack, args: Sequence[str]) -> str:
    stack.clear_faults()
    return "GPUs healthy and latency normal again (drift logged stays in MLflow)"


COMMANDS: dict[str, Callable[[Stack, Sequence[str]], str]] = {
    "xid": _xid,
    "throttle": _throttle,
    "latency": _latency,
    "load-failure": _load_failure,
    "drift": _drift,
    "mlflow-stop": _mlflow_stop,
    "mlflow-start": _mlflow_start,
    "clear": _clear,
    "alerts": lambda stack, args: firing(stack),
    "urls": lambda stack, args: urls(stack),
}


def apply(stack: Stack, words: Sequence[str]) -> str:
    """Run one command; returns what to tell the person. Unknown commands answer the help."""
    if not words:
        return ""
    command = COMMANDS.get(words[0])
    if command is None:
        return f"unknown command {words[0]!r}; commands:\n{HELP}"
    try:
        return command(stack, words[1:])
    except (KeyError, ValueError, RuntimeError) as exc:
        return f"{words[0]}: {exc}"


class ControlServer:
    """POST a JSON list of words to / on loopback: the command runs in the demo, its answer comes back."""

    def __init__(self, stack: Stack) -> None:
        lock = threading.Lock()  # one fault at a time: they restart processes

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                words = json.loads(self.body() or b"[]")
                with lock:
                    answer = apply(stack, [str(w) for w in words])
                self.reply(answer.encode(), "text/plain; charset=utf-8")

        self._server = LoopbackServer(Handler, "control")
        self.url = self._server.url

    def __enter__(self) -> ControlServer:
        self._server.start()
        state_file().write_text(json.dumps({"control": self.url, "pid": os.getpid()}), encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        path = state_file()
        if path.exists() and json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def send(words: Sequence[str]) -> str:
    """Run a command in the running demo (`python -m demo fault xid 3`)."""
    try:
        control = json.loads(state_file().read_text(encoding="utf-8"))["control"]
    except (OSError, ValueError, KeyError):
        raise RuntimeError("no demo is running (start one with `make demo`)") from None
    request = urllib.request.Request(control, data=json.dumps(list(words)).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return str(response.read().decode())
