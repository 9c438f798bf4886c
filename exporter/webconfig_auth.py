"""Basic auth against a web config's bcrypt hashes, cached so a scrape does not pay for bcrypt every time.

bcrypt at the usual cost (10-12) takes 50-250 ms by design. Like exporter-toolkit, results are cached by
(user, stored hash, password): a key holding a digest of the password, never the password itself. A changed
hash in the web config makes new keys, so old results cannot outlive it. Unknown users are checked against a
dummy hash so a wrong user name costs as much as a wrong password (no user enumeration by timing).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping

# bcrypt of a random password at cost 10: compared against when the user does not exist.
_DUMMY_HASH = b"$2b$10$Ed5Ay8fK2xFNF0Ci1Vqgz.dp2QxpThUGUPquM4WaseMfifbivSRpq"
CACHE_SIZE = 1024
CHALLENGE = ("WWW-Authenticate", 'Basic realm="mlobs-exporter"')


def credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic ...` header; None when absent or malformed."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class BasicAuthenticator:
    """Checks credentials against `users` (user -> bcrypt hash); thread-safe, with a bounded result cache."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._cache: dict[bytes, bool] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.bcrypt_calls = 0  # for tests and benchmarks: how often bcrypt actually ran

    def authorized(self, users: Mapping[str, str], authorization: str | None) -> bool:
        """Whether the Authorization header names a user of `users` with the right password."""
        given = credentials(authorization)
        if given is None:
            return False
        user, password = given
        known = user in users
        stored = users[user].encode() if known else _DUMMY_HASH
        # Imported with basic auth on only: hashlib and hmac load OpenSSL's libcrypto (3.5 MiB).
        import hashlib
        import hmac

        key = hashlib.sha256(b"\0".join((user.encode(), stored, password.encode()))).digest()
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            import bcrypt  # only a web config with basic_auth_users gets here

            try:
                cached = bcrypt.checkpw(password.encode(), stored)
            except ValueError:  # a hash bcrypt cannot read (the parser admits only well-formed ones)
                cached = False
            with self._lock:
                self.bcrypt_calls += 1
                if len(self._cache) >= self._cache_size:
                    self._cache.clear()
                self._cache[key] = cached
        # Both sides of the decision in constant time: knowing the user and the password's result.
        return hmac.compare_digest(bytes([known and cached]), b"\x01")
