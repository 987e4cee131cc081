"""Step 2a (auth), the scrubber: credentials out of any text that came from upstream.

Upstream text (an error body's message or code, a correlation id, a job's ``errorMessage``, an
id the platform chose) can reflect our own request: a gateway that echoes request headers puts
the live bearer token in its error body. Every such text passes through ``scrub`` before it
becomes part of one of our errors or log lines, so no later log line, traceback, report or
``/readyz`` reason that shows the error can show a credential. The token endpoint needs none:
its refusals carry only known error codes (``grant._refusal``), never the body's text.

``scrub`` replaces with ``[redacted]``: the exact values it is given (the current and the
request's token, the client secret and its Basic form; also URL- and JSON-escaped), whatever
follows an ``Authorization``/``Cookie``/``X-Api-Key`` header name, a ``Bearer``/``Basic``
scheme or a credential-named key (``access_token=``, ``"client_secret":``...), and anything
shaped like a JWT. Pure; values shorter than ``MIN_VALUE_CHARS`` are only caught by the patterns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MIN_VALUE_CHARS", "REDACTED", "scrub"]

REDACTED = "[redacted]"
MIN_VALUE_CHARS = 4
_END = r"""[^\s"'`,;&<>(){}\[\]]"""  # a character that can continue a credential
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A header echoed: everything after the name up to the end of the value.
    (
        re.compile(
            r"""(?i)(["']?\b(?:proxy-)?(?:authorization|cookie|set-cookie|x-api-key)["']?"""
            r"""\s*[:=](?!\s*["']?\[redacted\])\s*["']?)[^"'\r\n,;}\]]+"""
        ),
        rf"\1{REDACTED}",
    ),
    # An auth scheme and its credential, wherever it stands.
    (re.compile(rf"(?i)\b(bearer|basic)(\s+|%20|\+)(?!\[redacted\]){_END}+"), rf"\1 {REDACTED}"),
    # A credential-named key and its value (form, query string, JSON, text).
    (
        re.compile(
            r"""(?i)(["']?\b(?:access_token|refresh_token|id_token|client_secret|"""
            r"""api_key|password|secret|token)["']?\s*[:=]\s*["']?)"""
            rf"(?!\[redacted\]){_END}+"
        ),
        rf"\1{REDACTED}",
    ),
    # A JWT (header.payload.signature, base64url): an access token of many platforms.
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), REDACTED),
)


def scrub(text: str, values: Iterable[str | None] = ()) -> str:
    """``text`` with every credential in it, and every one of ``values``, replaced by
    ``[redacted]`` (see the module docstring)."""
    for value in _variants(values):
        text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _variants(values: Iterable[str | None]) -> list[str]:
    """The values as they may appear in text (raw, URL-encoded, JSON-escaped), longest first,
    so that a value containing another is replaced whole."""
    found: set[str] = set()
    for value in values:
        if value is None or len(value) < MIN_VALUE_CHARS:
            continue
        found.update((value, quote(value, safe=""), json.dumps(value)[1:-1]))
    return sorted(found, key=len, reverse=True)
