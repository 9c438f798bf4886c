"""Upstream strings made safe once, for label values and for logs.

Every byte an upstream sends is hostile: a lone surrogate cannot be encoded as UTF-8, a control character
rewrites a terminal or splits a log line, and a megabyte of error text becomes a megabyte label or log line.
`safe_text` returns printable, encodable text of bounded length; callers count the values it changed.
"""

from __future__ import annotations

import re

# Label values and error texts above this many characters are cut, with a visible marker.
LABEL_LIMIT = 256
MESSAGE_LIMIT = 200
TRUNCATION_MARKER = "...[truncated]"

# C0 and C1 control characters (tab kept: harmless in a label, common in messages) and lone surrogates.
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: str, limit: int = LABEL_LIMIT) -> str:
    """`value` with control characters and lone surrogates escaped, cut to `limit` chars plus a marker."""
    if value.isascii() and value.isprintable() and len(value) <= limit:
        return value  # the common case costs two C-level scans
    cleaned = _UNSAFE.sub(_escape, value)
    if len(cleaned) > limit:
        cleaned = cleaned[:limit] + TRUNCATION_MARKER
    return cleaned


def safe_message(value: object, limit: int = MESSAGE_LIMIT) -> str:
    """An error text for a log line, /health or a label: its first line, made safe and cut to `limit`."""
    text = str(value)
    first = text.split("\n", 1)[0] if "\n" in text else text
    return safe_text(first, limit)
