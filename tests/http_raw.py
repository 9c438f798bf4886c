"""Raw HTTP over a socket, for requests no well-behaved client would send."""

from __future__ import annotations

import socket


def exchange(port: int, data: bytes, host: str = "127.0.0.1", timeout: float = 10) -> bytes:
    """Send `data` on a fresh connection and return everything the server sends until it closes."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """(status line, headers with lower-case names, body) of a raw response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


def get(path: str, *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *headers, "", ""]
    return "\r\n".join(lines).encode()
