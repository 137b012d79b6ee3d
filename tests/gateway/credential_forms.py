"""The encodings a hostile upstream echoes the lab's credential in, and a
check, written apart from gateway/proxy/redact.py, that none of them reaches a
caller.

``ENCODINGS`` maps a name to how the upstream writes the credential into its
answer's text. ``json_unicode`` and ``json_solidus`` are special: the text is
the credential itself, but the upstream writes it into the raw JSON escaped
(``upstream_double.raw_json``). The base64 forms are embedded in a longer
encoded text at each byte alignment, as they would be inside an encoded
header dump or a config file.

``leaks(text, secret)`` names every way ``text`` still yields the secret:
as it is, lower-cased, reversed, percent-decoded, HTML-unescaped,
backslash-unescaped, and with every run of hex or base64(url) characters
decoded at every alignment."""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import urllib.parse
from collections.abc import Callable

# A credential whose base64 holds '+' and '/' at every alignment and that JSON
# may escape ('/'), so base64 and base64url, and \/, all differ from the plain form.
HARD_CREDENTIAL = "sk-lab/upstream+cred~?>~credential-0123456789abcdef"


def _b64(k: int, url: bool = False) -> Callable[[str], str]:
    def encode(secret: str) -> str:
        raw = b"ab"[:k] + secret.encode() + b"-tail"
        return (base64.urlsafe_b64encode if url else base64.b64encode)(raw).decode()

    return encode


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "json_unicode": lambda s: s,  # written as \uXXXX in the raw JSON
    "json_solidus": lambda s: s,  # '/' written as \/ in the raw JSON
    "upper": lambda s: s.upper(),
    "reversed": lambda s: s[::-1],
    "percent": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "percent_lower_partial": lambda s: urllib.parse.quote(s, safe="").lower().replace("%2b", "%2B"),
    "hex": lambda s: s.encode().hex(),
    "hex_upper": lambda s: s.encode().hex().upper(),
    "escaped_in_text": lambda s: "".join(f"\\u{ord(c):04x}" for c in s),  # e.g. inside tool arguments
    "html_entities": lambda s: "".join(f"&#{ord(c)};" for c in s),
    **{f"base64_{k}": _b64(k) for k in range(3)},
    **{f"base64url_{k}": _b64(k, url=True) for k in range(3)},
}

_HEX_RUN = re.compile(r"[0-9A-Fa-f]{8,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{8,}")


def _decodings(text: str) -> dict[str, str]:
    found = {
        "as is": text,
        "lower": text.lower(),
        "reversed": text[::-1].lower(),
        "percent-decoded": urllib.parse.unquote(text).lower(),
        "html-unescaped": html.unescape(text).lower(),
    }
    try:
        found["backslash-unescaped"] = codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        pass
    decoded = []
    for run in _HEX_RUN.findall(text):
        for k in range(2):
            try:
                decoded.append(binascii.unhexlify(run[k : len(run) - (len(run) - k) % 2]).decode("latin-1"))
            except (binascii.Error, ValueError):
                pass
    for run in _B64_RUN.findall(text):
        std = run.replace("-", "+").replace("_", "/")
        for skip in range(4):
            part = std[skip:]
            part = part[: len(part) - len(part) % 4]
            try:
                decoded.append(base64.b64decode(part, validate=True).decode("latin-1"))
            except (binascii.Error, ValueError):
                pass
    found["hex/base64-decoded"] = "\n".join(decoded)
    return found


def leaks(text: str, secret: str) -> list[str]:
    """How ``text`` still gives the secret away (empty: it does not)."""
    needle = secret.lower()
    return [name for name, decoded in _decodings(text).items() if needle in decoded.lower()]
