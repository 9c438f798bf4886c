"""Host PID -> Kubernetes pod UID, read from `/proc/<pid>/cgroup`.

The kubelet names every pod's cgroup after the pod UID, in one of these forms:

    cgroup v1, cgroupfs driver   12:memory:/kubepods/burstable/pod6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10/<id>
    guaranteed QoS (no QoS dir)  4:devices:/kubepods/pod6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10/<id>
    cgroup v2, systemd driver    0::/kubepods.slice/kubepods-burstable.slice/
                                     kubepods-burstable-pod6f1d1e8a_2c1b_4f7e_9d3a_0c2b5e7a9f10.slice/
                                     cri-containerd-<id>.scope
    static (mirror) pods         ...kubepods-besteffort-pod0f3a8c5e9b1d4e2f8a7c6b5d4e3f2a1b.slice/...

Seen from inside a cgroup namespace the path may start with `/..`; only the pod segment matters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}"
# One line per hierarchy (a dozen under cgroup v1); far below this.
_MAX_CGROUP_BYTES = 64 * 1024
_POD_SEGMENT = re.compile(rf"(?:^|[/-])pod({_UID})(?:\.slice)?(?:/|$)")


class ProcUnavailable(Exception):
    """The proc root cannot be read at all; the message is one line for a person."""


def pod_uid_from_cgroup(text: str) -> str | None:
    """The pod UID in a `/proc/<pid>/cgroup` file, or None for a process outside Kubernetes pods."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        if "kubepods" not in path:
            continue
        match = _POD_SEGMENT.search(path)
        if match:
            # systemd escapes the UID's dashes as underscores in slice names.
            return match.group(1).replace("_", "-")
    return None


class ProcCgroups:
    """Reads cgroup files under a proc root (the host's /proc when the pod has hostPID)."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root

    def pod_uids(self, pids: Iterable[int]) -> dict[int, str | None]:
        """Pod UID (None: not in a pod) for every PID still visible; vanished PIDs are left out."""
        if not os.path.isdir(self.root):
            raise ProcUnavailable(f"proc root {self.root} not found")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise ProcUnavailable(f"proc root {self.root} is not readable")
        found: dict[int, str | None] = {}
        for pid in pids:
            path = f"{self.root}/{pid}/cgroup"
            try:
                # os-level reads: a third of the cost of open() on every GPU process of every scrape
                fd = os.open(path, os.O_RDONLY)
                try:
                    data = os.read(fd, _MAX_CGROUP_BYTES)
                finally:
                    os.close(fd)
            except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
                continue  # exited since NVML listed it, or not in this PID namespace
            except OSError as exc:
                raise ProcUnavailable(f"cannot read {path}: {exc.strerror}") from None
            found[pid] = pod_uid_from_cgroup(data.decode("utf-8", "replace"))
        return found
