"""A stand-in for the TF Serving HTTP pool: answers each path with scripted bytes, no sockets.

Tests and fuzzers hand it to `TFServingClient` (the pool is the client's injected boundary) to feed the
source and collector any body at all, thousands of times a second.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from exporter.tfserving.targets import DEFAULT_METRICS_PATH

Answer = tuple[int, bytes]


class FakePool:
    """`answers` maps a URL path (`/monitoring/prometheus/metrics`, `/v1/models/bert`) to (status, body),
    or to a callable returning one; an unknown path is a 404."""

    def __init__(self, answers: dict[str, Answer | Callable[[], Answer]] | None = None) -> None:
        self.answers = dict(answers or {})
        self.paths: list[str] = []
        self.closed = False

    def get(self, url: str, deadline: float, max_body_bytes: int) -> Answer:
        path = urlsplit(url).path
        self.paths.append(path)
        answer = self.answers.get(path, (404, b'{"error": "Could not find any versions of model"}'))
        return answer() if callable(answer) else answer

    def close(self) -> None:
        self.closed = True


def page(body: str | bytes) -> dict[str, Answer | Callable[[], Answer]]:
    """The answers of a server whose metrics page is `body`."""
    return {DEFAULT_METRICS_PATH: (200, body.encode() if isinstance(body, str) else body)}
