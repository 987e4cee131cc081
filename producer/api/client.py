"""Step 2 (extract): ``ApiClient``, the single request path to the platform API.

Every call of a domain goes through here: wait on the domain's limiter, add the bearer token
and ``x-priority`` header, send, and decide by status. 2xx returns the parsed JSON. 429 pauses
the whole domain for ``Retry-After`` (3 s if absent) and retries, unless the wait exceeds the cap
(a daily limit: ``QuotaExceededError``). 5xx, resets, cut or unparseable bodies, and 2xx bodies
without the shape the caller expects (``expect``, a check of ``pages``: a gateway's ``{}`` or
error body with status 200) retry the same request with backoff within a time budget, then raise
``TransientSourceError``. 401 invalidates exactly that token and retries the same request with
a fresh one. Other 4xx raise ``PermanentSourceError``.
A caller that holds a response for a while (a page fetched ahead) may take the raw body
(``decode=False``) and parse it when it needs it (``decoded``): a body that is not JSON, or not
of the expected shape, is then requested again, as ``call`` would have done, and the bytes weigh
far less than the objects.
Upstream text enters our errors and logs only through ``scrub``: an error body that echoes our
request (its bearer token, say) is logged and raised without the credential.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
import structlog

from producer.api.http import DomainHttp
from producer.api.pages import Shape
from producer.api.retry import RETRYABLE_STATUSES, parse_retry_after
from producer.auth.scrub import scrub
from producer.errors import (
    AuthError,
    FailureReason,
    PermanentSourceError,
    PermissionDeniedError,
    QuotaExceededError,
    TransientSourceError,
)
from producer.ratelimit import DomainLimiter

__all__ = ["ApiClient", "ApiResponse", "TokenProvider", "open_session"]

_log = structlog.get_logger("producer.source")
_MAX_UNAUTHORIZED = 3
_DETAIL_CHARS = 300  # of an error body's text in our errors and logs


class TokenProvider(Protocol):
    """What the client needs from the domain's ``TokenManager``."""

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...

    def credentials(self) -> tuple[str, ...]:
        """The values upstream text must not carry into a log (token, secret): for ``scrub``."""
        ...


@dataclass(frozen=True, slots=True)
class _Bearer:
    """The token of one request; ``repr`` (a traceback rendered with locals) hides the value."""

    value: str

    def __repr__(self) -> str:
        return "_Bearer(...)"


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A successful response: status, parsed JSON body (None when empty), headers."""

    status: int
    body: Any  # the raw bytes when the call asked for ``decode=False``
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: FailureReason
    retry_after: float | None
    detail: str


class ApiClient:
    """One domain's HTTP client to the platform API. Safe for concurrent use."""

    def __init__(
        self,
        http: DomainHttp,
        *,
        base_url: str,
        tokens: TokenProvider,
        limiter: DomainLimiter,
        permission_of: Callable[[str], str | None] | None = None,
    ) -> None:
        """``http``: the domain's session, metrics, clock, retry policy, timeout and
        ``Retry-After`` cap. ``permission_of`` is the platform's table of the permission each
        API path needs (None: the platform names none), so a 403 says what the domain's client
        lacks."""
        self._domain = http.domain
        self._base_url = base_url.rstrip("/")
        self._session = http.session
        self._tokens = tokens
        self._limiter = limiter
        self._metrics = http.metrics
        self._clock = http.clock
        self._retry = http.retry
        self._timeout = aiohttp.ClientTimeout(total=http.request_timeout_s)
        self._max_retry_after_s = http.max_retry_after_s
        self._permission_of = permission_of

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        auth: bool = True,
        decode: bool = True,
        expect: Shape | None = None,
    ) -> ApiResponse:
        """Send one logical request, retrying as the module docstring says.

        ``path`` is relative to the API base URL (``/api/v2/...``) or an absolute URL (a
        pre-signed download, sent with ``auth=False``). ``expect`` checks a 2xx body's shape
        (a wrong one is retried like a body that is not JSON). ``decode=False`` returns a 2xx
        body as bytes, unparsed and unchecked (see ``decoded``). Raises ``TransientSourceError``
        when the retry budget is spent, ``QuotaExceededError``, ``AuthError`` or
        ``PermanentSourceError``, their messages scrubbed of credentials.
        Cancellation abandons the request; nothing is left behind.
        """
        url = path if path.startswith(("http://", "https://")) else self._base_url + path
        # Scrubbed only once it is shown: a path can hold upstream text (an id, a download URL).
        request = f"{method} {path.split('?', 1)[0]}"
        started = self._clock.monotonic()
        attempt = 0
        unauthorized = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            bearer = _Bearer(await self._tokens.token()) if auth else None
            outcome = await self._attempt(
                method, url, params, json, bearer, decode=decode, expect=expect
            )
            if isinstance(outcome, ApiResponse):
                return outcome
            what = self.scrub(request)
            if outcome.reason is FailureReason.UNAUTHORIZED:
                assert bearer is not None
                self._tokens.invalidate(bearer.value)
                unauthorized += 1
            self._raise_if_final(outcome, what, path, unauthorized)
            delay = self._next_delay(attempt, unauthorized, outcome)
            elapsed = self._clock.monotonic() - started
            self._raise_if_spent(outcome, what, attempt, delay, elapsed)
            await self._back_off(outcome, what, attempt, delay)

    def _raise_if_final(self, outcome: _Failure, what: str, path: str, unauthorized: int) -> None:
        """Raise for a failure no retry mends: 401s with fresh tokens past the limit, a 403
        (naming the permission the platform's table gives for ``path``), a permanent error."""
        if outcome.reason is FailureReason.UNAUTHORIZED and unauthorized > _MAX_UNAUTHORIZED:
            # Each 401 was already counted by the TokenManager's invalidate().
            raise AuthError(
                f"{what}: rejected with 401 {unauthorized} times with fresh tokens",
                reason="bad_credentials",
            )
        if outcome.reason is FailureReason.FORBIDDEN:
            permission = self._permission_of(path) if self._permission_of else None
            if permission is None:
                message = f"the platform refused {what} ({outcome.detail})"
            else:  # the permission is what to act on: keep the line short enough to show
                message = (
                    f"the platform refused {what} ({_without_message(outcome.detail)}): "
                    f"the OAuth client's role needs {permission}"
                )
            raise PermissionDeniedError(message, permission=permission)
        if outcome.reason is FailureReason.PERMANENT:
            raise PermanentSourceError(f"{what}: {outcome.detail}")

    def _raise_if_spent(
        self, outcome: _Failure, what: str, attempt: int, delay: float, elapsed: float
    ) -> None:
        """Raise when waiting ``delay`` more is not worth it: a Retry-After above the cap (a
        quota, not a burst) or the retry budget spent."""
        if outcome.reason is FailureReason.THROTTLED and delay > self._max_retry_after_s:
            raise QuotaExceededError(
                f"{what}: throttled with Retry-After {delay:.0f} s, above the "
                f"{self._max_retry_after_s:.0f} s cap (a quota, not a burst)",
                retry_after=delay,
            )
        if self._retry.exhausted(elapsed, delay):
            raise TransientSourceError(
                f"{what}: gave up after {attempt} attempts in {elapsed:.1f} s "
                f"({outcome.reason}: {outcome.detail})",
                retry_after=outcome.retry_after,
            )

    async def _back_off(self, outcome: _Failure, what: str, attempt: int, delay: float) -> None:
        """Count and log the retry, then wait ``delay``: a 429 pauses the whole domain's
        limiter (every request of the domain waits, not only this one), anything else sleeps."""
        self._metrics.api_retry(outcome.reason)
        _log.info(
            "api_retry",
            request=what,
            reason=outcome.reason,
            detail=outcome.detail,
            attempt=attempt,
            delay_s=round(delay, 3),
        )
        if outcome.reason is FailureReason.THROTTLED:
            self._limiter.pause(delay)
        else:
            await self._clock.sleep(delay)

    async def decoded(
        self,
        response: ApiResponse,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        expect: Shape | None = None,
    ) -> Any:
        """The parsed body of a ``decode=False`` response to ``method path?params``.

        A body that is not JSON (truncated, an error page) or fails ``expect`` counts as a
        ``bad_body`` or ``bad_shape`` retry and the same request is sent again through ``call``,
        with its retries, as ``call`` does for such a 2xx body. Only for idempotent requests.
        """
        raw: bytes = response.body
        try:
            # Blank is no body; isspace stops at the first other byte (strip could copy it all).
            body = orjson.loads(raw) if raw and not raw.isspace() else None
        except orjson.JSONDecodeError:
            failure = _Failure(
                FailureReason.BAD_BODY, None, f"{response.status} with a body that is not JSON"
            )
        else:
            problem = expect(body) if expect is not None else None
            if problem is None:
                return body
            del body
            failure = _Failure(FailureReason.BAD_SHAPE, None, f"{response.status} but {problem}")
        del raw
        self._metrics.api_retry(failure.reason)
        _log.info(
            "api_retry",
            request=self.scrub(f"{method} {path.split('?', 1)[0]}"),
            reason=failure.reason,
            detail=failure.detail,
            attempt=1,
            delay_s=0.0,
        )
        return (await self.call(method, path, params=params, expect=expect)).body

    def scrub(self, text: str, *also: str | None) -> str:
        """``text`` (from upstream) without credentials: the domain's token and secret, ``also``,
        and anything shaped like one (see ``producer.auth.scrub``)."""
        return scrub(text, (*also, *self._tokens.credentials()))

    def _next_delay(self, attempt: int, unauthorized: int, failure: _Failure) -> float:
        if failure.reason is FailureReason.UNAUTHORIZED:
            # The first 401 retries at once with a fresh token; repeated ones back off.
            return 0.0 if unauthorized == 1 else self._retry.delay(unauthorized, None)
        if failure.reason is FailureReason.THROTTLED:
            return self._retry.delay(attempt, failure.retry_after, throttled=True)
        return self._retry.delay(attempt, failure.retry_after)

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Any,
        bearer: _Bearer | None,
        *,
        decode: bool,
        expect: Shape | None,
    ) -> ApiResponse | _Failure:
        body = orjson.dumps(json) if json is not None else None
        sent = self._clock.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=body,
                headers=self._headers(bearer, json=body is not None),
                timeout=self._timeout,
            ) as response:
                raw = await response.read()
                status = response.status
                response_headers = response.headers.copy()  # case-insensitive
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._metrics.api_response("error", self._clock.monotonic() - sent)
            return _Failure(FailureReason.CONNECTION, None, type(exc).__name__)
        self._metrics.api_response(_status_class(status), self._clock.monotonic() - sent)
        self._limiter.advise(response_headers)
        if 200 <= status < 300:
            if not decode:
                return ApiResponse(status, raw, response_headers)
            try:
                parsed = orjson.loads(raw) if raw.strip() else None
            except orjson.JSONDecodeError:
                return _Failure(
                    FailureReason.BAD_BODY, None, f"{status} with a body that is not JSON"
                )
            problem = expect(parsed) if expect is not None else None
            if problem is not None:
                return _Failure(FailureReason.BAD_SHAPE, None, f"{status} but {problem}")
            return ApiResponse(status, parsed, response_headers)
        return self._classify(status, raw, response_headers, bearer)

    def _headers(self, bearer: _Bearer | None, *, json: bool) -> dict[str, str]:
        # The platform has no request priority; the header carries ours for proxies and logs.
        headers = {"Accept": "application/json", "x-priority": self._limiter.priority}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer.value}"
        if json:
            headers["Content-Type"] = "application/json"
        return headers

    def _classify(
        self, status: int, raw: bytes, headers: Mapping[str, str], bearer: _Bearer | None
    ) -> _Failure:
        # The error text is the platform's (or a gateway's): it may echo our request.
        sent_token = bearer.value if bearer is not None else None
        detail = self.scrub(_error_detail(status, raw, headers), sent_token)[:_DETAIL_CHARS]
        unauthorized = bearer is not None
        retry_after = parse_retry_after(
            headers.get("Retry-After"), now_unix=self._clock.now().timestamp()
        )
        if status == 401 and unauthorized:
            return _Failure(FailureReason.UNAUTHORIZED, None, detail)
        if status == 429:
            self._metrics.throttled()
            self._limiter.throttled(retry_after)
            return _Failure(FailureReason.THROTTLED, retry_after, detail)
        if status in RETRYABLE_STATUSES:
            return _Failure(FailureReason.SERVER_ERROR, retry_after, detail)
        if status == 403:
            return _Failure(FailureReason.FORBIDDEN, None, detail)
        return _Failure(FailureReason.PERMANENT, None, detail)


def _status_class(status: int) -> str:
    return "429" if status == 429 else f"{status // 100}xx"


def _error_detail(status: int, raw: bytes, headers: Mapping[str, str]) -> str:
    """``status code: message [correlation id]`` from the platform's error body, if any.

    Upstream text, not yet scrubbed: cut to a length only after scrubbing, so that no cut
    leaves part of a credential the patterns no longer recognise.
    """
    code = message = ""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        code = str(parsed.get("code") or parsed.get("error") or "")
        message = str(parsed.get("message") or parsed.get("error_description") or "")
    correlation = headers.get("ININ-Correlation-Id", "")
    text = f"{status} {code}".strip()
    if message:
        text += f": {message}"
    if correlation:
        text += f" [correlation {correlation}]"
    return text


def _without_message(detail: str) -> str:
    """``status code [correlation id]``: an ``_error_detail`` without the platform's sentence.

    For a 403 whose permission we name, the sentence repeats it at length; /readyz and the
    failed domain's line show a bounded prefix of the error, and the permission must be in it.
    """
    head, _, rest = detail.partition(": ")
    correlation = rest.rfind(" [correlation ")
    return head + (rest[correlation:] if correlation >= 0 else "")


@asynccontextmanager
async def open_session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session for one domain (its own connection pool), closed on exit."""
    connector = aiohttp.TCPConnector(limit=16, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
        yield session
