"""The exporter as a process: exit codes, one-line errors, serving until SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from tests.helpers import free_port, http_get

FAKE = ["--gpu.backend=fake", "--gpu.fake-scenario=h100-8x", "--gpu.call-timeout=5"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_bad_flags_exit_2_with_one_line_listing_every_problem_and_nothing_started() -> None:
    port = free_port()
    listen = f"--web.listen-address=127.0.0.1:{port}"
    result = _run(listen, "--log.format=xml", "--nope", "--gpu.backend=cuda")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "3 problems" in lines[0]
    for fragment in ("--log.format: 'xml'", "unknown flag --nope", "--gpu.backend: 'cuda'"):
        assert fragment in lines[0]
    with socket.socket() as probe:  # nothing was started: the port is still free
        probe.bind(("127.0.0.1", port))


def test_a_busy_port_is_a_clear_error_not_a_traceback() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run(f"--web.listen-address=127.0.0.1:{port}", *FAKE)
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in result.stderr and "Traceback" not in result.stderr


def test_serves_then_exits_0_on_sigterm() -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "exporter",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.format=json",
    ]
    proc = subprocess.Popen(
        [*command, *FAKE],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = http_get(f"http://127.0.0.1:{port}/health", timeout=2)[0]
            except OSError:
                time.sleep(0.1)
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert '"msg": "shutting down"' in log and "SIMULATED" in log
