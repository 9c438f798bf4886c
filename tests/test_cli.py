"""The exporter as a process: exit codes, one-line errors, serving until SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

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
    for fragment in (
        "--log.format: 'xml'",
        "unknown flag --nope",
        "--gpu.backend: must be one of nvml, fake, auto, got 'cuda'",
    ):
        assert fragment in lines[0]
    with socket.socket() as probe:  # nothing was started: the port is still free
        probe.bind(("127.0.0.1", port))


def _assert_one_line_exit_2_and_nothing_started(
    result: subprocess.CompletedProcess[str], *fragments: str
) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "SIMULATED" not in result.stderr  # the GPU collector logs this when it starts: it never did


def test_a_busy_port_is_exit_2_in_one_line_before_any_collector_starts() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run(f"--web.listen-address=127.0.0.1:{port}", *FAKE)
    _assert_one_line_exit_2_and_nothing_started(result, f"cannot listen on 127.0.0.1:{port}", "in use")


@pytest.mark.parametrize(
    "host",
    [
        "no-such-host.invalid",  # RFC 6761: never resolves
        "192.0.2.1",  # TEST-NET-1: not an address of this machine
    ],
)
def test_an_address_that_cannot_be_listened_on_is_exit_2_in_one_line(host: str) -> None:
    result = _run(f"--web.listen-address={host}:{free_port()}", *FAKE)
    _assert_one_line_exit_2_and_nothing_started(result, f"cannot listen on {host}:")


def test_a_config_file_that_is_not_utf8_is_exit_2_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("gpu:\n  backend: fake # caf\xe9\n".encode("latin-1"))
    result = _run(f"--web.listen-address=127.0.0.1:{free_port()}", f"--config.file={config}")
    _assert_one_line_exit_2_and_nothing_started(result, "is not UTF-8 text (line 2)")


def test_a_fifo_as_config_file_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    result = _run(f"--web.listen-address=127.0.0.1:{free_port()}", f"--config.file={fifo}", *FAKE)
    _assert_one_line_exit_2_and_nothing_started(result, "is not a regular file")


def test_flags_of_a_disabled_collector_get_one_warning_naming_them() -> None:
    port = free_port()
    ignored = ["--attribution.pod-resources-socket=/run/kubelet.sock", "--tfserving.timeout=3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}", *FAKE, *ignored],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:  # the log up to the "listening" line
            lines.append(line)
            if "listening" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    warnings = [line for line in lines if "level=warn" in line and "disabled collectors" in line]
    assert len(warnings) == 1, lines
    assert "--attribution.pod-resources-socket (--collector.attribution is off)" in warnings[0]
    assert "--tfserving.timeout (--collector.tfserving is off)" in warnings[0]


def test_serves_on_an_ipv6_listen_address() -> None:
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", f"--web.listen-address=[::1]:{port}", *FAKE],
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for_health(f"http://[::1]:{port}/health", proc) == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _wait_for_health(url: str, proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return http_get(url, timeout=2)[0]
        except OSError:
            time.sleep(0.1)
    return 0


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
        status = _wait_for_health(f"http://127.0.0.1:{port}/health", proc)
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert '"msg": "shutting down"' in log and "SIMULATED" in log


def test_the_problem_line_stays_one_bounded_line() -> None:
    from exporter.cli import describe_problems

    line = describe_problems([f"key{i}: bad value 'a\nb'" for i in range(25)] + ["x" * 10_000])
    assert "\n" not in line and len(line) < 20 * 40 + 400
    assert line.startswith("invalid configuration (26 problems): key0: bad value 'a\\x0ab'")
    assert line.endswith("; and 6 more")


def test_the_address_is_bound_before_any_collector_is_built_and_a_failing_build_is_one_line() -> None:
    from exporter.app import StartError, build_exporter
    from exporter.settings import parse
    from tests.dummy_plugin import DummyPlugin

    class Exploding(DummyPlugin):
        def build(self, settings: Any, ctx: Any) -> Any:
            raise RuntimeError("kubelet socket gone\nsecond line")

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = parse([f"--web.listen-address=127.0.0.1:{holder.getsockname()[1]}"], {}, [Exploding()])
        with pytest.raises(OSError):  # the bind failed first: the exploding build never ran
            build_exporter(busy, [Exploding()], {})
    port = free_port()
    settings = parse([f"--web.listen-address=127.0.0.1:{port}"], {}, [Exploding()])
    with pytest.raises(StartError) as caught:
        build_exporter(settings, [Exploding()], {})
    assert str(caught.value) == "cannot start the dummy collector: kubelet socket gone"
    with socket.socket() as probe:  # the listener was closed again
        probe.bind(("127.0.0.1", port))


def test_malloc_arenas_are_capped_on_glibc() -> None:
    # RSS stays flat over 10,000 scrapes only with few arenas (make bench ARGS=robustness measures it)
    import platform

    from exporter.cli import bound_malloc_arenas

    assert bound_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
