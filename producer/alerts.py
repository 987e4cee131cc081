"""Side channel: dead-letter alerts to a Slack-compatible webhook and by email, never in the
pipeline's way.

Owns ``AlertMonitor``: ``observe`` is fed each committed window's counts and keeps, per domain, a
sliding window of them; when the rejection ratio reaches the threshold (with enough records
fetched) it queues one message per channel (the webhook; email through ``alert_email`` when the
domain has recipients), then stays quiet for the cooldown. ``run_sender`` (task ``alerts``)
delivers the queue with bounded retries. ``observe`` never awaits, never raises and never waits
for a channel; the queue is bounded (oldest dropped). The webhook URL is a secret and is never
logged.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson
import structlog

from producer.alert_email import EmailChannel
from producer.api.retry import RetryPolicy, parse_retry_after
from producer.checkpoint import Counts
from producer.clock import Clock
from producer.telemetry.metrics import Metrics
from producer.windows import Window

__all__ = ["AlertMessage", "AlertMonitor", "alert_email_text", "alert_payload"]

_log = structlog.get_logger("producer.alerts")
_TOP_RULES = 5
_RETRY_AFTER_CAP_S = 60.0
Channel = Literal["webhook", "email"]


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert: what crossed the threshold, over which period, and where its dead letters are."""

    domain: str
    fetched: int
    dead_lettered: int
    threshold_ratio: float
    min_records: int
    window_seconds: float
    top_rules: tuple[tuple[str, int], ...]
    dlq_prefix: str
    last_window: str

    @property
    def ratio(self) -> float:
        """Dead-lettered / fetched over the period."""
        return self.dead_lettered / self.fetched if self.fetched else 0.0


def alert_payload(message: AlertMessage) -> dict[str, Any]:
    """The Slack-compatible body: ``text`` (the whole alert, for any compatible receiver) and
    ``blocks`` (the same, laid out for Slack)."""
    rules = ", ".join(f"{rule} ({count})" for rule, count in message.top_rules) or "none recorded"
    period = f"{message.window_seconds:g} s"
    headline = (
        f"{message.domain}: {message.dead_lettered} of {message.fetched} records dead-lettered "
        f"({message.ratio:.1%}) in the last {period}"
    )
    text = (
        f"[mesh-producer] {headline}; threshold {message.threshold_ratio:.1%} with at least "
        f"{message.min_records} records. Top error rules: {rules}. "
        f"Dead letters: {message.dlq_prefix} (last window {message.last_window})"
    )
    bullet_rules = "\n".join(f"• `{rule}`: {count}" for rule, count in message.top_rules)
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"Dead letters: {headline}"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Domain*\n{message.domain}"},
                    {"type": "mrkdwn", "text": f"*Fetched*\n{message.fetched}"},
                    {"type": "mrkdwn", "text": f"*Dead-lettered*\n{message.dead_lettered}"},
                    {
                        "type": "mrkdwn",
                        "text": f"*Ratio*\n{message.ratio:.1%} "
                        f"(threshold {message.threshold_ratio:.1%})",
                    },
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Top error rules*\n{bullet_rules or rules}"},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Dead letters: `{message.dlq_prefix}` · last window "
                        f"{message.last_window} · replay: `mesh-producer dlq replay "
                        f"--domain {message.domain}`",
                    }
                ],
            },
        ],
    }


def alert_email_text(message: AlertMessage) -> tuple[str, str]:
    """The email's subject and plain-text body: the same facts as the webhook's text."""
    subject = (
        f"[mesh-producer] {message.domain}: {message.dead_lettered} of {message.fetched} "
        f"records dead-lettered ({message.ratio:.1%})"
    )
    rules = "\n".join(f"  {rule}: {count}" for rule, count in message.top_rules) or "  none"
    body = (
        f"Domain: {message.domain}\n"
        f"Dead-lettered: {message.dead_lettered} of {message.fetched} records "
        f"({message.ratio:.1%}) in the last {message.window_seconds:g} s\n"
        f"Threshold: {message.threshold_ratio:.1%} with at least {message.min_records} records\n"
        f"Top error rules:\n{rules}\n"
        f"Dead letters: {message.dlq_prefix}\n"
        f"Last window: {message.last_window}\n"
    )
    return subject, body


@dataclass(frozen=True, slots=True)
class _Seen:
    at: float
    fetched: int
    dead_lettered: int
    rules: Mapping[str, int]


@dataclass(slots=True)
class _Domain:
    seen: deque[_Seen] = field(default_factory=deque)
    last_alert: float | None = None


class AlertMonitor:
    """Watches each domain's rejection ratio over a sliding period and posts alerts.

    An alert is due when, over the last ``window_seconds`` (by ``clock.monotonic``, i.e. when the
    windows were committed), at least ``min_records`` were fetched and ``dead_lettered / fetched
    >= threshold_ratio``; then no other alert for that domain for ``cooldown_seconds`` (None: the
    window length), however high the ratio stays. Without ``webhook_url`` and ``email`` alerts are
    only logged and counted; ``email`` sends to the domain's recipients (none: no email).
    Delivery, per channel: up to ``max_attempts`` POSTs per message (connection errors, timeouts,
    408, 429 and 5xx are retried with backoff, honouring ``Retry-After`` up to 60 s; other 4xx
    are not), each bounded by ``request_timeout_s``. At most ``queue_size`` messages wait; a full
    queue drops its oldest. Metrics: ``mesh_alerts_total{domain, outcome}``.
    """

    def __init__(
        self,
        *,
        webhook_url: str | None,
        threshold_ratio: float,
        min_records: int,
        window_seconds: float,
        cooldown_seconds: float | None,
        metrics: Metrics,
        clock: Clock,
        queue_size: int = 100,
        max_attempts: int = 4,
        request_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        email: EmailChannel | None = None,
    ) -> None:
        if not 0 < threshold_ratio <= 1 or min_records < 1 or window_seconds <= 0:
            raise ValueError("alert threshold in (0, 1], min_records >= 1, window_seconds > 0")
        if queue_size < 1 or max_attempts < 1:
            raise ValueError("queue_size and max_attempts must be >= 1")
        self._url = webhook_url
        self._email = email
        self._ratio = threshold_ratio
        self._min_records = min_records
        self._window_s = float(window_seconds)
        self._cooldown_s = float(window_seconds if cooldown_seconds is None else cooldown_seconds)
        self._metrics = metrics
        self._clock = clock
        self._queue: deque[tuple[Channel, AlertMessage]] = deque()
        self._queue_size = queue_size
        self._max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._retry = retry or RetryPolicy(base_s=1.0, cap_s=30.0)
        self._domains: dict[str, _Domain] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._delivering = False

    @property
    def pending(self) -> int:
        """Messages queued or being delivered."""
        return len(self._queue) + (1 if self._delivering else 0)

    def observe(
        self,
        domain: str,
        window: Window,
        counts: Counts,
        top_rules: Mapping[str, int],
        dlq_prefix: str,
    ) -> None:
        """Record one committed window of ``domain``; queue an alert if one is due.

        ``top_rules`` counts the window's dead letters by error rule; ``dlq_prefix`` is where they
        are (e.g. ``s3://bucket/prefix/failed-records/``). Never blocks, never raises.
        """
        try:
            now = self._clock.monotonic()
            state = self._domains.setdefault(domain, _Domain())
            state.seen.append(_Seen(now, counts.fetched, counts.dead_lettered, dict(top_rules)))
            while state.seen and state.seen[0].at <= now - self._window_s:
                state.seen.popleft()
            fetched = sum(s.fetched for s in state.seen)
            dead = sum(s.dead_lettered for s in state.seen)
            if fetched < self._min_records or dead < self._ratio * fetched:
                return
            if state.last_alert is not None and now - state.last_alert < self._cooldown_s:
                return
            state.last_alert = now
            rules: Counter[str] = Counter()
            for seen in state.seen:
                rules.update(seen.rules)
            message = AlertMessage(
                domain=domain,
                fetched=fetched,
                dead_lettered=dead,
                threshold_ratio=self._ratio,
                min_records=self._min_records,
                window_seconds=self._window_s,
                top_rules=tuple(rules.most_common(_TOP_RULES)),
                dlq_prefix=dlq_prefix,
                last_window=window.label,
            )
            self._metrics.for_domain(domain).alert("triggered")
            _log.warning(
                "dead_letter_alert",
                domain=domain,
                fetched=fetched,
                dead_lettered=dead,
                ratio=round(message.ratio, 4),
                top_rules=dict(message.top_rules),
                webhook=self._url is not None,
                email=self._email is not None and bool(self._email.recipients_for(domain)),
            )
            if self._url is not None:
                self._enqueue("webhook", message)
            if self._email is not None and self._email.recipients_for(domain):
                self._enqueue("email", message)
        except Exception as exc:  # alerting must never break the pipeline that feeds it
            _log.warning("alert_observe_failed", error_type=type(exc).__name__)

    def _enqueue(self, channel: Channel, message: AlertMessage) -> None:
        if len(self._queue) >= self._queue_size:
            dropped_channel, dropped = self._queue.popleft()
            self._metrics.for_domain(dropped.domain).alert("dropped")
            _log.warning(
                "alert_dropped",
                domain=dropped.domain,
                channel=dropped_channel,
                queue_size=self._queue_size,
            )
        self._queue.append((channel, message))
        self._idle.clear()
        self._wake.set()

    async def run_sender(self) -> None:
        """Deliver queued alerts until cancelled (run it as the task named ``alerts``).

        Cancellation abandons the message being posted and whatever is queued.
        """
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                if not self._queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                channel, message = self._queue.popleft()
                self._delivering = True
                try:
                    await self._deliver(session, channel, message)
                finally:
                    self._delivering = False

    async def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every queued alert was delivered or given up.

        True when nothing is pending. For ``run --once``, before the sender is cancelled.
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def _deliver(
        self, session: aiohttp.ClientSession, channel: Channel, message: AlertMessage
    ) -> None:
        metrics = self._metrics.for_domain(message.domain)
        for attempt in range(1, self._max_attempts + 1):
            if channel == "webhook":
                sent, reason, retryable, retry_after = await self._post(session, message)
            else:
                sent, reason, retryable, retry_after = await self._mail(message)
            if sent:
                metrics.alert("sent")
                _log.info("alert_sent", domain=message.domain, channel=channel, attempts=attempt)
                return
            if not retryable or attempt == self._max_attempts:
                metrics.alert("failed")
                _log.warning(
                    "alert_delivery_failed",
                    domain=message.domain,
                    channel=channel,
                    reason=reason,
                    attempts=attempt,
                )
                return
            metrics.alert("retried")
            delay = self._retry.delay(
                attempt, None if retry_after is None else min(retry_after, _RETRY_AFTER_CAP_S)
            )
            _log.info(
                "alert_retry",
                domain=message.domain,
                channel=channel,
                reason=reason,
                delay_s=round(delay, 2),
            )
            await self._clock.sleep(delay)

    async def _post(
        self, session: aiohttp.ClientSession, message: AlertMessage
    ) -> tuple[bool, str, bool, float | None]:
        """One webhook POST: (sent, reason, retryable, Retry-After)."""
        assert self._url is not None  # nothing is queued for the webhook without one
        body = orjson.dumps(alert_payload(message))
        headers = {"Content-Type": "application/json"}
        try:
            async with session.post(self._url, data=body, headers=headers) as response:
                status = response.status
                await response.read()
                if 200 <= status < 300:
                    return True, "", False, None
                retryable = status in (408, 429) or status >= 500
                return (
                    False,
                    f"HTTP {status}",
                    retryable,
                    parse_retry_after(response.headers.get("Retry-After")),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception text may hold the URL, whose path is the webhook's secret.
            return False, type(exc).__name__, True, None

    async def _mail(self, message: AlertMessage) -> tuple[bool, str, bool, float | None]:
        """One email send: (sent, reason, retryable, None)."""
        assert self._email is not None  # nothing is queued for email without a channel
        subject, text = alert_email_text(message)
        outcome = await self._email.send(message.domain, subject, text)
        return outcome.sent, outcome.reason, outcome.retryable, None
