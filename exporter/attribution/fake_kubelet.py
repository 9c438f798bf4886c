"""The kubelet's pod-resources v1 service: a real gRPC server on a unix socket, serving given allocations.

Built on the same checked-in .proto as the client, with the kubelet's behaviour: `List` returns every pod on
the node with its containers' device allocations (resource name, device ids, NUMA topology).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from exporter.attribution.podresources import _generated

# The generated modules are untyped and excluded from mypy: loaded by name, as the client does.
api_pb2: Any = _generated("api_pb2")
api_pb2_grpc: Any = _generated("api_pb2_grpc")


@dataclass
class FakeContainer:
    name: str
    # (resource name, device ids) as the device plugin reported them
    devices: Sequence[tuple[str, Sequence[str]]] = ()


@dataclass
class FakePod:
    namespace: str
    name: str
    containers: Sequence[FakeContainer] = field(default_factory=list)


def response(pods: Sequence[FakePod]) -> Any:
    return api_pb2.ListPodResourcesResponse(
        pod_resources=[
            api_pb2.PodResources(
                name=pod.name,
                namespace=pod.namespace,
                containers=[
                    api_pb2.ContainerResources(
                        name=container.name,
                        devices=[
                            api_pb2.ContainerDevices(
                                resource_name=resource,
                                device_ids=list(ids),
                                topology=api_pb2.TopologyInfo(nodes=[api_pb2.NUMANode(ID=0)]),
                            )
                            for resource, ids in container.devices
                        ],
                    )
                    for container in pod.containers
                ],
            )
            for pod in pods
        ]
    )


class _Lister(api_pb2_grpc.PodResourcesListerServicer):
    def __init__(self, owner: FakeKubelet) -> None:
        self.owner = owner

    def List(self, request: Any, context: Any) -> Any:
        with self.owner.lock:
            self.owner.calls += 1
            pods = list(self.owner.pods)
            release = self.owner.release
        if release is not None:
            release.wait(30)  # a hung kubelet: the client's deadline must end the call
        return response(pods)


class FakeKubelet:
    """Serve `pods` on `socket_path` (in a short temp dir: unix socket paths are limited to 107 bytes)."""

    def __init__(self, pods: Sequence[FakePod] = ()) -> None:
        self.directory = tempfile.mkdtemp(prefix="podres-", dir="/tmp")
        self.socket_path = os.path.join(self.directory, "kubelet.sock")
        self.pods = list(pods)
        self.calls = 0
        self.release: threading.Event | None = None
        self.lock = threading.Lock()
        self._server: Any = None

    def start(self) -> FakeKubelet:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        api_pb2_grpc.add_PodResourcesListerServicer_to_server(_Lister(self), self._server)
        self._server.add_insecure_port(f"unix://{self.socket_path}")
        self._server.start()
        return self

    def hang(self) -> threading.Event:
        """Make List block until the returned event is set."""
        self.release = threading.Event()
        return self.release

    def stop(self) -> None:
        if self.release is not None:
            self.release.set()
        if self._server is not None:
            self._server.stop(grace=None).wait(10)
            self._server = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
