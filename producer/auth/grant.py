"""Step 2a (auth), the token endpoint: one client-credentials grant over HTTP Basic.

Owns the client secret (inline ``SecretStr`` or a mounted Kubernetes Secret file, re-read when it
changes and on ``invalid_client``) and the mapping of token responses to a low-cardinality
reason. The only auth module that imports aiohttp. It keeps no token, makes one request per call
(plus one retry after a rotated secret) and never puts a secret or token in an error or log.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from pydantic import SecretStr

from producer.errors import ConfigError

__all__ = [
    "GrantAnswer",
    "GrantRefused",
    "GrantRequest",
    "SecretSource",
    "TokenEndpoint",
    "grant_rotating",
    "granted_token",
    "post_grant",
]

_log = structlog.get_logger("producer.auth")
_Stamp = tuple[int, int, int, int]


class GrantRefused(Exception):
    """One grant attempt failed; ``reason`` is one of ``invalid_client``, ``unauthorized_client``,
    ``token_endpoint_error`` or ``secret_unavailable``. Never carries a secret or token.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


async def grant_rotating(
    secret: SecretSource, domain: str, request: Callable[[], Awaitable[tuple[str, float]]]
) -> tuple[str, float]:
    """``request()`` (one grant with the current secret), after re-reading a secret file that
    changed; on ``invalid_client`` the file is re-read again and, if the value differs from the
    one just refused, the grant is tried once more. Any platform's grant rotates this way."""
    if secret.refresh_if_changed():
        _log.info("client_secret_reloaded", domain=domain, trigger="file_changed")
    try:
        return await request()
    except GrantRefused as exc:
        if exc.reason != "invalid_client" or not secret.reload():
            raise
    _log.info("client_secret_reloaded", domain=domain, trigger="invalid_client")
    return await request()


class SecretSource:
    """The client secret: a fixed ``SecretStr``, or a mounted file re-read when it changes.

    A file is read lazily; a trailing newline is stripped. An unreadable or empty file (a
    rotation in progress) keeps the last secret read. ``repr()`` names the file, not the value.
    """

    __slots__ = ("_path", "_secret", "_stamp")

    def __init__(self, secret: SecretStr | None, path: Path | None) -> None:
        if secret is None and path is None:
            raise ConfigError("the OAuth client needs client_secret or client_secret_file")
        self._secret = secret if path is None else None
        self._path = path
        self._stamp: _Stamp | None = None

    def __repr__(self) -> str:
        where = "inline" if self._path is None else f"file={str(self._path)!r}"
        return f"SecretSource({where})"

    @property
    def value(self) -> SecretStr:
        """The current secret; raises ``GrantRefused("secret_unavailable")`` if none was read."""
        if self._secret is None:
            raise GrantRefused("secret_unavailable", detail="secret file unreadable or empty")
        return self._secret

    def peek(self) -> str | None:
        """The current secret's value, or None when none was read; only for ``scrub``."""
        return self._secret.get_secret_value() if self._secret is not None else None

    def refresh_if_changed(self) -> bool:
        """Re-read the file if its device, inode, size or mtime changed; True if the value did."""
        stamp = self._stat()
        if stamp is None or (stamp == self._stamp and self._secret is not None):
            return False
        return self._read(stamp)

    def reload(self) -> bool:
        """Re-read the file whatever its stat says; True when the secret value changed."""
        stamp = self._stat()
        return False if stamp is None else self._read(stamp)

    def _stat(self) -> _Stamp | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()  # follows the ..data symlink a Kubernetes volume swaps
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def _read(self, stamp: _Stamp) -> bool:
        assert self._path is not None
        try:
            stripped = self._path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            return False
        if not stripped:
            return False
        changed = self._secret is not None and self._secret.get_secret_value() != stripped
        self._secret = SecretStr(stripped)
        self._stamp = stamp
        return changed


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class TokenEndpoint:
    """``POST {url}`` with ``grant_type=client_credentials`` and HTTP Basic for one client."""

    domain: str
    url: str
    client_id: str
    secret: SecretSource
    session: aiohttp.ClientSession
    timeout_s: float

    def __repr__(self) -> str:
        return f"TokenEndpoint(url={self.url!r}, client_id={self.client_id!r})"

    def credentials(self) -> tuple[str, ...]:
        """The secret and its HTTP Basic form, for ``scrub`` to take out of upstream text."""
        secret = self.secret.peek()
        if secret is None:
            return ()
        basic = _basic_credentials(self.client_id, SecretStr(secret)).removeprefix("Basic ")
        return (secret, basic)

    async def grant(self) -> tuple[str, float]:
        """``(access_token, expires_in seconds)``, or ``GrantRefused``.

        The secret file is re-read first if it changed; on ``invalid_client`` it is re-read
        again and, if the value differs from the one just refused, the grant is retried once.
        """
        return await grant_rotating(self.secret, self.domain, self._request)

    async def _request(self) -> tuple[str, float]:
        # No secret or token is bound to a local name here, so no rendered traceback shows one.
        answer = (
            await post_grant(
                self.session,
                self.url,
                GrantRequest(
                    data={"grant_type": "client_credentials"},
                    headers={
                        "Authorization": _basic_credentials(self.client_id, self.secret.value),
                        "Accept": "application/json",
                    },
                ),
                timeout_s=self.timeout_s,
                read_body=_json_body,
            )
        ).received()
        if answer.status == 200:
            return _parse_grant(answer.body)
        raise _refusal(answer.status, answer.body, _parse_retry_after(answer.retry_after))


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """What one grant sends: its body and its headers, which carry the secret. ``repr`` shows
    neither, so a traceback rendered with locals shows no secret in the frame that sends it."""

    data: Any
    headers: Mapping[str, str]

    def __repr__(self) -> str:
        return "GrantRequest(...)"


@dataclass(frozen=True, slots=True)
class GrantAnswer:
    """A token endpoint's answer: its status, its decoded body (None when empty or not JSON)
    and its ``Retry-After`` header; or, when none came, the name of the transport error.
    ``repr`` leaves the body out (it holds the token)."""

    status: int = 0
    body: Any = None
    retry_after: str | None = None
    transport_error: str = ""

    def __repr__(self) -> str:
        return (
            f"GrantAnswer(status={self.status}, retry_after={self.retry_after!r}, "
            f"transport_error={self.transport_error!r})"
        )

    def received(self) -> GrantAnswer:
        """This answer; ``GrantRefused`` (``token_endpoint_error``) when none came. Raised
        here, away from the request's frame, so no traceback shows its secret."""
        if self.transport_error:
            raise GrantRefused("token_endpoint_error", detail=self.transport_error)
        return self


async def post_grant(
    session: aiohttp.ClientSession,
    url: str,
    request: GrantRequest,
    *,
    timeout_s: float,
    read_body: Callable[[aiohttp.ClientResponse], Awaitable[Any]],
) -> GrantAnswer:
    """One ``POST`` of a grant request and its answer, the body decoded by ``read_body`` (None
    on ``ValueError``). Any platform's grant sends its request this way, built inline so no
    frame names its secret; the caller takes the answer with ``received()``."""
    try:
        async with session.post(
            url,
            data=request.data,
            headers=dict(request.headers),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            try:
                body = await read_body(response)
            except ValueError:
                body = None
            return GrantAnswer(response.status, body, response.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        return GrantAnswer(transport_error=type(exc).__name__)


async def _json_body(response: aiohttp.ClientResponse) -> Any:
    return await response.json(content_type=None)


def _basic_credentials(client_id: str, secret: SecretStr) -> str:
    pair = f"{client_id}:{secret.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def granted_token(body: Any) -> tuple[str, float]:
    """``(access_token, expires_in)`` of a 200 answer's decoded JSON body; ``GrantRefused``
    (``token_endpoint_error``, naming what is wrong, never a value) when it is not an object,
    has no token or no positive lifetime. Any platform's grant reads its answer this way."""
    if not isinstance(body, dict):
        raise GrantRefused("token_endpoint_error", status=200, detail="body is not an object")
    token = body.get("access_token")
    lifetime = body.get("expires_in")
    if not isinstance(token, str) or not token:
        raise GrantRefused("token_endpoint_error", status=200, detail="no access_token")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        raise GrantRefused("token_endpoint_error", status=200, detail="bad expires_in")
    return token, float(lifetime)


def _parse_grant(body: Any) -> tuple[str, float]:
    granted = granted_token(body)
    kind = body.get("token_type", "bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise GrantRefused("token_endpoint_error", status=200, detail="token_type not bearer")
    return granted


def _refusal(status: int, body: Any, retry_after: float | None) -> GrantRefused:
    error = body.get("error") if isinstance(body, dict) else None
    if status == 401 or error == "invalid_client":
        return GrantRefused("invalid_client", status=status)
    if error == "unauthorized_client":
        return GrantRefused("unauthorized_client", status=status)
    known = error if error in {"invalid_request", "unsupported_grant_type"} else ""
    return GrantRefused(
        "token_endpoint_error", status=status, detail=known, retry_after=retry_after
    )
