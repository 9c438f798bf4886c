"""Stable fake UUIDs: `uuid.uuid5` without hashlib, whose import maps OpenSSL's libcrypto (3.5 MiB) into
every exporter started on the fake backend."""

from __future__ import annotations

import uuid

try:
    from _sha1 import sha1  # CPython's own SHA-1, what hashlib itself falls back to without OpenSSL
except ImportError:  # pragma: no cover - another interpreter
    from hashlib import sha1


def url_uuid5(name: str) -> uuid.UUID:
    """The same value as `uuid.uuid5(uuid.NAMESPACE_URL, name)`."""
    digest = sha1(uuid.NAMESPACE_URL.bytes + name.encode("utf-8")).digest()
    return uuid.UUID(bytes=digest[:16], version=5)
