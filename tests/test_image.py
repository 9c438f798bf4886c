"""The container image: built from the Dockerfile on a local Debian base, run as nobody, scraped.

Builds with scripts/build-image.sh (mmdebstrap, buildah, podman; installed by the script when running as root)
and runs the exporter inside the image with `buildah run --isolation chroot`: the host network is shared, so
the test scrapes it on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.harness import stop
from servicemonitors.common import UNPRIVILEGED_UID
from tests.helpers import free_port, http_get, value

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/mlobs-exporter:test"
TOOLS = ("mmdebstrap", "buildah", "podman")


@pytest.fixture(scope="module")
def image() -> str:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        pytest.skip(
            f"{', '.join(missing)} missing and not root to install them (apt-get install {' '.join(missing)})"
        )
    if os.geteuid() != 0:
        pytest.skip("building with buildah --isolation chroot needs root")
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), IMAGE], capture_output=True, text=True, timeout=1200
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return IMAGE


@pytest.fixture
def container(image: str) -> Iterator[str]:
    name = subprocess.run(["buildah", "from", "--quiet", image], capture_output=True, text=True, check=True)
    ctr = name.stdout.strip()
    yield ctr
    subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)


def test_image_config_is_non_root_with_the_exporter_as_entrypoint(image: str) -> None:
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True)
    config = json.loads(out.stdout)[0]["Config"]
    assert config["User"] == f"{UNPRIVILEGED_UID}:{UNPRIVILEGED_UID}"
    assert config["Entrypoint"] == ["/opt/mlobs/bin/mlobs-exporter"]
    labels = config["Labels"]
    for key in ("title", "version", "revision", "created", "base.name"):
        assert labels[f"org.opencontainers.image.{key}"], key


def test_image_has_no_test_extras_and_no_compiler(container: str) -> None:
    probe = (
        "import importlib.util as u, shutil; "
        "print([m for m in ('pytest', 'mlflow', 'hypothesis', 'pip') if u.find_spec(m)], "
        "[c for c in ('gcc', 'cc', 'g++') if shutil.which(c)])"
    )
    out = subprocess.run(
        ["buildah", "run", "--isolation", "chroot", container, "--", "/opt/mlobs/bin/python", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[] []"


def test_exporter_runs_as_nobody_on_the_fake_node_and_is_scraped(container: str) -> None:
    port = free_port()
    # As nobody nothing in the image is writable: the exporter works as on a read-only root filesystem.
    cmd = [
        "buildah", "run", "--isolation", "chroot", "--user", f"{UNPRIVILEGED_UID}:{UNPRIVILEGED_UID}",
        container, "--", "/opt/mlobs/bin/mlobs-exporter",
        f"--web.listen-address=127.0.0.1:{port}", "--gpu.backend=fake", "--gpu.fake-scenario=h100-8x",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        status, body = 0, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=5)
                break
            except OSError:
                time.sleep(0.2)  # no event to await: the exporter's port opening is the event
        assert status == 200, proc.stdout.read() if proc.poll() is not None and proc.stdout else "no answer"
        assert value(body, "nvidia_gpu_up", gpu="0") == 1
        assert value(body, "mlobs_collector_success", collector="gpu") == 1
    finally:
        stop(proc)
