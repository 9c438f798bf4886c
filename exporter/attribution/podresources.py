"""The kubelet pod-resources API (gRPC `v1.PodResourcesLister/List` on a unix socket): which container holds
which device.

The generated stubs (and grpc itself) are imported on first use, so an exporter without attribution never
loads them.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
# The device plugin's whole GPUs and, under the "mixed" MIG strategy, one resource per MIG profile.
# `.shared` is the plugin's name for time-sliced or MPS replicas when it renames them (renameByDefault).
DEFAULT_RESOURCES = ("nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-*")
# dcgm-exporter's limit: a node with hundreds of pods answers with more than gRPC's default 4 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _generated(module: str) -> Any:
    # Generated code is untyped: loading it by name keeps mypy out of it (it is excluded from the checks).
    return importlib.import_module(f"exporter.attribution.podresources_pb.{module}")


class PodResourcesError(Exception):
    """The kubelet could not be asked; the message is one line for a person."""


@dataclass(frozen=True)
class DeviceAllocation:
    """One device id the kubelet allocated to one container, as the device plugin named it."""

    namespace: str
    pod: str
    container: str
    resource: str
    device_id: str


class ResourceFilter:
    """Resource names to keep: exact names or shell patterns (`nvidia.com/mig-*`)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)

    def __call__(self, resource: str) -> bool:
        return any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.patterns)


def allocations(response: Any, keep: ResourceFilter) -> list[DeviceAllocation]:
    """Flatten a `ListPodResourcesResponse` into one row per allocated device id of a kept resource."""
    rows: list[DeviceAllocation] = []
    for pod in response.pod_resources:
        for container in pod.containers:
            for devices in container.devices:
                if not keep(devices.resource_name):
                    continue
                rows.extend(
                    DeviceAllocation(
                        pod.namespace, pod.name, container.name, devices.resource_name, device_id
                    )
                    for device_id in devices.device_ids
                )
    return rows


Allocations = list[DeviceAllocation]


class PodResourcesClient:
    """Lists device allocations from the kubelet; every failure becomes a `PodResourcesError`."""

    def __init__(self, socket_path: str, timeout: float, keep: ResourceFilter) -> None:
        self.socket_path = os.path.abspath(socket_path)
        self.timeout = timeout
        self.keep = keep
        self._channel: Any = None
        self._list: Any = None

    def list(self) -> list[DeviceAllocation]:
        return self.start()()

    def start(self) -> Callable[[], Allocations]:
        """Send List now; the returned function waits for the answer. The kubelet's round trip then
        overlaps whatever the caller does in between (the GPU collector's NVML reads)."""
        try:
            self._check_socket()
        except PodResourcesError as exc:
            self.close()  # a kubelet restart makes a new socket: connect afresh when it is back
            failure = exc

            def failed() -> Allocations:
                raise failure

            return failed
        import grpc

        if self._list is None:
            self._connect()
        call = self._list.future(_generated("api_pb2").ListPodResourcesRequest(), timeout=self.timeout)

        def result() -> Allocations:
            try:
                response = call.result()
            except grpc.RpcError as exc:
                # A fresh channel next time: a failed one backs off for up to two minutes before reconnecting.
                self.close()
                raise PodResourcesError(self._explain(exc)) from None
            return allocations(response, self.keep)

        return result

    def _connect(self) -> None:
        import grpc

        self._channel = grpc.insecure_channel(
            f"unix://{self.socket_path}",
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
        )
        self._list = _generated("api_pb2_grpc").PodResourcesListerStub(self._channel).List

    def _check_socket(self) -> None:
        try:
            mode = os.stat(self.socket_path).st_mode
        except FileNotFoundError:
            raise PodResourcesError(
                f"pod-resources socket {self.socket_path} not found: mount the kubelet's "
                "/var/lib/kubelet/pod-resources read-only into the exporter"
            ) from None
        except OSError as exc:
            raise PodResourcesError(f"cannot stat {self.socket_path}: {exc.strerror}") from None
        if not stat.S_ISSOCK(mode):
            raise PodResourcesError(f"{self.socket_path} is not a unix socket")

    def _explain(self, exc: Any) -> str:
        code = exc.code()
        name = getattr(code, "name", str(code))
        if name == "DEADLINE_EXCEEDED":
            return f"pod-resources List on {self.socket_path} timed out after {self.timeout:g}s"
        if not os.access(self.socket_path, os.W_OK):
            return f"permission denied on {self.socket_path}: connecting needs write access (run as root)"
        details = (exc.details() or "").splitlines()
        first = f": {details[0]}" if details else ""
        return f"pod-resources List on {self.socket_path} failed: {name}{first}"

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._list = None
