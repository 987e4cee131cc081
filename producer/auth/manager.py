"""Step 2a (auth), the token lifecycle of one domain: refresh ahead, single flight, 401 recovery.

Owns the held token, its schedule (monotonic deadlines from ``schedule``), readiness and the
background refresher task ``{domain}:token``; the request itself is ``grant.TokenEndpoint``.
Time comes only from the injected ``Clock``. Never logs, raises or reprs a secret or token value,
and never retries API calls: ``api/client.py`` calls ``invalidate`` and ``token`` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import structlog
from pydantic import SecretStr

from producer.api.http import DomainHttp
from producer.auth.grant import GrantRefused, SecretSource, TokenEndpoint
from producer.auth.schedule import (
    BACKOFF_MAX_S,
    backoff_seconds,
    refresh_after_seconds,
    usable_margin_seconds,
)
from producer.errors import AuthError

if TYPE_CHECKING:
    pass

__all__ = ["GrantEndpoint", "TokenManager"]

_log = structlog.get_logger("producer.auth")
_FRESH_TOKEN_S: Final = 10.0  # a token rejected this soon after a 401-driven grant is "fresh"
_CONFIG_REASONS: Final = frozenset({"invalid_client", "unauthorized_client"})


class GrantEndpoint(Protocol):
    """One token request of a platform: ``grant.TokenEndpoint`` or another platform's grant."""

    async def grant(self) -> tuple[str, float]:
        """``(access_token, lifetime seconds)``, or raise ``grant.GrantRefused``."""
        ...

    def credentials(self) -> tuple[str, ...]:
        """The secret values no text may show (for ``scrub``)."""
        ...


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class _Token:
    """A held access token with its schedule (monotonic seconds). ``repr`` hides the value."""

    value: str
    lifetime_s: float
    issued: float
    refresh_at: float
    usable_until: float
    expires_at: datetime
    after_invalidation: bool

    def __repr__(self) -> str:
        return f"_Token(expires_at={self.expires_at.isoformat()}, lifetime_s={self.lifetime_s:g})"


class TokenManager:
    """One domain's access token: refreshed ahead of expiry, shared, invalidated on 401.

    Time comes from ``clock`` only. A token is *usable* until a mandatory window before its expiry
    (``min(request_timeout_s, effective margin / 2)``) so no request leaves with a token that
    expires in flight. Between the refresh time and that window is the advisory window: a failed
    refresh there keeps the token; past it the token is dropped and the domain is not ready.
    ``repr()`` shows the domain, client id and state, never the secret or token.
    """

    def __init__(
        self,
        http: DomainHttp,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | None,
        client_secret_file: Path | None,
        margin_seconds: float = 300.0,
        rng: random.Random | None = None,
        endpoint: GrantEndpoint | None = None,
    ) -> None:
        """``http``: the domain's session, metrics, clock and request timeout (its grants')."""
        self._domain = http.domain
        self._client_id = client_id
        # ``endpoint``: another platform's grant (its own secret handling); the lifecycle is ours.
        self._endpoint: GrantEndpoint = endpoint or TokenEndpoint(
            domain=http.domain,
            url=token_url,
            client_id=client_id,
            secret=SecretSource(client_secret, client_secret_file),
            session=http.session,
            timeout_s=http.request_timeout_s,
        )
        self._metrics = http.metrics
        self._clock = http.clock
        self._margin_s = max(0.0, margin_seconds)
        self._timeout_s = http.request_timeout_s
        self._rng = rng if rng is not None else random.Random()
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._token: _Token | None = None
        self._last_error: str | None = None
        self._grant_error = "token_endpoint_error"  # reason of the last failed grant
        self._failures = 0  # consecutive failed grants
        self._retry_at: float | None = None  # no grant before this after a failed one
        self._attempts = 0  # finished grant attempts, for sharing a failure with its waiters
        self._last_attempt_failed = False
        self._invalid_streak = 0  # consecutive 401s on tokens fresh from a 401-driven grant
        self._not_before: float | None = None  # next grant waits until this after such 401s

    def __repr__(self) -> str:
        return (
            f"TokenManager(domain={self._domain!r}, client_id={self._client_id!r}, "
            f"ready={self.ready}, last_error={self._last_error!r})"
        )

    @property
    def ready(self) -> bool:
        """True while a usable (unexpired, not invalidated) token is held."""
        return self._usable() is not None

    @property
    def last_error(self) -> str | None:
        """Short, secret-free reason of the last failure (e.g. ``invalid_client``); None once ok."""
        return self._last_error

    @property
    def expires_at(self) -> datetime | None:
        """UTC expiry of the usable token held, or None."""
        held = self._usable()
        return held.expires_at if held is not None else None

    async def token(self) -> str:
        """A usable access token, obtained first if none is held.

        Concurrent callers share one grant request (single flight), and callers queued behind a
        failed grant share its failure. Raises ``AuthError(reason=...)`` when no token can be had:
        ``invalid_client`` (even after re-reading the secret file), ``unauthorized_client``,
        ``token_endpoint_error``, ``secret_unavailable``; while a failed grant's backoff runs it
        raises at once without a request, so callers never loop. After repeated 401s on fresh
        tokens the next grant first waits a capped backoff. Cancellation abandons the wait.
        """
        held = self._usable()
        if held is not None:
            return held.value
        queued_at = self._attempts
        async with self._lock:
            held = self._usable()
            if held is not None:
                return held.value
            if self._attempts != queued_at and self._last_attempt_failed:
                raise self._auth_error(self._grant_error)
            if self._retry_at is not None and self._clock.monotonic() < self._retry_at:
                raise self._auth_error(self._grant_error)
            if self._not_before is not None:
                await self._clock.sleep(self._not_before - self._clock.monotonic())
            return (await self._grant(scheduled=False)).value

    def credentials(self) -> tuple[str, ...]:
        """The values no text may show: the held token, the client secret and its Basic form.

        For ``scrub`` only (``ApiClient`` scrubs upstream text with them); never log them.
        """
        held = () if self._token is None else (self._token.value,)
        return (*held, *self._endpoint.credentials())

    def invalidate(self, token: str) -> None:
        """The API answered 401 for ``token``: drop it if it is still the current token.

        Invalidating an already replaced token is a no-op, so a newer token is never dropped.
        A dropped token counts ``auth_failed("bad_credentials")``; when tokens minted right
        after a 401 are rejected again, the next grant waits a capped exponential backoff.
        """
        held = self._token
        if held is None or not hmac.compare_digest(held.value.encode(), token.encode()):
            return
        now = self._clock.monotonic()
        fresh = held.after_invalidation and now - held.issued < _FRESH_TOKEN_S
        self._invalid_streak = self._invalid_streak + 1 if fresh else 1
        self._token = None
        self._last_error = "bad_credentials"
        delay = 0.0
        if self._invalid_streak >= 2:
            delay = backoff_seconds(self._invalid_streak - 1, self._rng)
            self._not_before = now + delay
        self._metrics.auth_failed("bad_credentials")
        self._metrics.token_expiry(0)
        _log.warning(
            "token_invalidated",
            domain=self._domain,
            streak=self._invalid_streak,
            next_grant_in_s=round(delay, 3),
        )
        self._changed.set()

    async def run_refresher(self) -> None:
        """Keep a token until cancelled (the task is named ``"{domain}:token"``).

        Obtains the first token, then sleeps until ``refresh_at`` (lifetime - effective margin -
        jitter) and renews it. A failed grant is retried after a capped exponential backoff
        (+ jitter): a still-usable token is kept meanwhile (advisory window) and dropped once it
        leaves its usable life (mandatory window), making the domain not ready until a grant
        succeeds. Wakes early when a token is invalidated. Never raises ``AuthError``; ends only
        by cancellation.
        """
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"{self._domain}:token")
        while True:
            self._changed.clear()
            self._drop_if_unusable()
            delay = self._refresher_delay()
            if delay > 0:
                await self._sleep_or_wake(delay)
                continue
            async with self._lock:
                if self._refresher_delay() > 0:
                    continue  # a caller of token() renewed or failed meanwhile
                # A failure is counted, logged and backed off in _grant; the loop then waits.
                with contextlib.suppress(AuthError):
                    await self._grant(scheduled=self._token is not None)

    # -- internals ---------------------------------------------------------------------------

    def _usable(self) -> _Token | None:
        held = self._token
        if held is None or self._clock.monotonic() >= held.usable_until:
            return None
        return held

    def _drop_if_unusable(self) -> None:
        held = self._token
        if held is not None and self._clock.monotonic() >= held.usable_until:
            self._token = None
            self._metrics.token_expiry(0)
            _log.warning("token_expired", domain=self._domain, last_error=self._last_error)

    def _refresher_delay(self) -> float:
        """Seconds until the refresher should grant (<= 0: now)."""
        now = self._clock.monotonic()
        held = self._usable()
        waits: list[float] = []
        if self._retry_at is not None:
            waits.append(self._retry_at - now)
        if self._not_before is not None:
            waits.append(self._not_before - now)
        due = max(waits, default=0.0)
        if held is None:
            return due
        if due > 0:
            return min(due, held.usable_until - now)  # wake to drop it when it stops being usable
        return held.refresh_at - now

    async def _sleep_or_wake(self, seconds: float) -> None:
        sleeper = asyncio.create_task(
            self._clock.sleep(seconds), name=f"{self._domain}:token-sleep"
        )
        waker = asyncio.create_task(self._changed.wait(), name=f"{self._domain}:token-wake")
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    def _auth_error(self, reason: str) -> AuthError:
        return AuthError(f"{self._domain}: no access token ({reason})", reason=reason)

    async def _grant(self, *, scheduled: bool) -> _Token:
        """Run one grant (with the lock held): record success or failure; raise ``AuthError``."""
        failure: GrantRefused | None = None
        started = self._clock.monotonic()
        started_wall = self._clock.now()
        try:
            value, lifetime_s = await self._endpoint.grant()
        except GrantRefused as exc:
            failure = exc
        finally:
            self._attempts += 1
        if failure is not None:
            self._record_failure(failure)
            raise self._auth_error(
                failure.reason
            )  # outside the except: no chained context to render
        held = _Token(
            value=value,
            lifetime_s=lifetime_s,
            issued=started,
            refresh_at=started + refresh_after_seconds(lifetime_s, self._margin_s, self._rng),
            usable_until=started
            + lifetime_s
            - usable_margin_seconds(lifetime_s, self._margin_s, self._timeout_s),
            expires_at=started_wall + timedelta(seconds=lifetime_s),
            after_invalidation=not scheduled and self._invalid_streak > 0,
        )
        self._token = held
        self._last_error = None
        self._failures = 0
        self._retry_at = None
        self._not_before = None
        self._last_attempt_failed = False
        if scheduled:
            self._invalid_streak = 0
        self._metrics.token_refreshed("success")
        self._metrics.token_expiry(held.expires_at.timestamp())
        _log.info(
            "token_refreshed",
            domain=self._domain,
            expires_in=lifetime_s,
            refresh_in_s=round(held.refresh_at - started, 3),
            trigger="renew" if scheduled else "acquire",
        )
        return held

    def _record_failure(self, failure: GrantRefused) -> None:
        self._failures += 1
        self._last_attempt_failed = True
        self._last_error = failure.reason
        self._grant_error = failure.reason
        delay = backoff_seconds(self._failures, self._rng)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, BACKOFF_MAX_S))
        self._retry_at = self._clock.monotonic() + delay
        self._metrics.token_refreshed("failure")
        self._metrics.auth_failed(failure.reason)
        log = _log.error if failure.reason in _CONFIG_REASONS else _log.warning
        log(
            "token_refresh_failed",
            domain=self._domain,
            reason=failure.reason,
            status=failure.status,
            detail=failure.detail,
            failures=self._failures,
            retry_in_s=round(delay, 3),
            holds_token=self._usable() is not None,
        )
