"""URIs fit for a message: no user info, query or fragment, where passwords and tokens ride.

Every message that echoes a URI a person gave (a flag, a config key, an environment variable) shows it
through `redact_uri`, whatever else is wrong with it: a URI rejected for its scheme still carries its secret.
"""

from __future__ import annotations

from exporter.textsafe import safe_text

HIDDEN = "***"
URI_LIMIT = 200


def redact_uri(value: str) -> str:
    """`value` with user info, query and fragment replaced by `***`, made safe and cut for a message.

    Works on strings too broken to parse as URLs, since those are the ones that end up in messages."""
    scheme, separator, rest = value.partition("://")
    if not separator:
        scheme, rest = "", value
    if "@" in rest:  # the last @ ends the user info, even one with a raw /, ? or # in its password
        rest = f"{HIDDEN}@{rest.rpartition('@')[2]}"
    rest, hash_sign, _ = rest.partition("#")
    rest, question_mark, _ = rest.partition("?")
    shown = f"{scheme}{separator}{rest}"
    shown += f"?{HIDDEN}" if question_mark else ""
    shown += f"#{HIDDEN}" if hash_sign else ""
    return safe_text(shown, URI_LIMIT)
