"""Child processes of the stack: each in its own session with a log file, stopped by its process group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A started process: what it is, its log, and how to tell it is up."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None


def launch(
    name: str,
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Child:
    """Start `argv` with stdout and stderr in `log`, in a new session: stopping it stops its workers too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            list(argv),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return Child(name, proc, log)


def stop(*children: Child, timeout: float = 15) -> None:
    """SIGTERM every child's process group, then wait for each; SIGKILL what outlives `timeout`."""
    for child in children:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.proc.wait(timeout=5)


def wait_until(condition: Callable[[], bool], seconds: float, what: str, child: Child | None = None) -> None:
    """Poll `condition` until it holds (a starting process has no event to wait on); fail naming `what`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}: {child.tail()}")
        if time.monotonic() > deadline:
            tail = f"; its log: {child.tail()}" if child is not None else ""
            raise TimeoutError(f"waited {seconds:g} s for {what}{tail}")
        time.sleep(0.1)


def answers(url: str, expect: bytes | None = None) -> bool:
    """Whether `url` answers 200 (and, if given, a body starting with `expect`)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and (expect is None or response.read().startswith(expect))
    except (OSError, urllib.error.HTTPError):
        return False


def wait_http(child: Child, url: str, seconds: float = 30, expect: bytes | None = None) -> None:
    wait_until(lambda: answers(url, expect), seconds, f"{child.name} at {url}", child)


def start_server(
    name: str, binaries: Sequence[str], args: Callable[[str], list[str]], log: Path, ready: str = "/-/ready"
) -> tuple[Child, str]:
    """The first of `binaries` found, with `args(listen address)`, on a free loopback port; ready on return.
    (child, base URL)"""
    binary = next(filter(None, map(shutil.which, binaries)), None)
    if binary is None:
        raise RuntimeError(f"{binaries[0]} not installed: `make test` installs it (scripts/bootstrap.sh)")
    address = f"127.0.0.1:{free_port()}"
    child = launch(name, [binary, *args(address)], log)
    wait_http(child, f"http://{address}{ready}")
    return child, f"http://{address}"
