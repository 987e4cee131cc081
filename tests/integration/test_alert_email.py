"""Dead-letter alerts by email reach a real SMTP relay: STARTTLS first, login with the password
file read at each send, the domain's own recipients, a transient refusal retried, a relay
without STARTTLS refused before any credential is sent.

The relay is aiosmtpd on 127.0.0.1 with a throwaway CA (tests/fixtures/smtp.py); time for the
sliding window and the backoff is a manual clock, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from producer.alert_email import EmailChannel
from producer.alerts import AlertMonitor
from producer.checkpoint import Counts
from producer.telemetry.metrics import Metrics
from producer.windows import Window
from tests.fixtures.smtp import Relay, smtp_relay

_T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
_DLQ = "file:///lake/telephony-cdr-export/failed-records/"


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return _T0 + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    yield from smtp_relay(tmp_path)


@pytest.fixture
def plain_relay(tmp_path: Path) -> Iterator[Relay]:
    yield from smtp_relay(tmp_path, starttls=False)


def _channel(relay: Relay, password_file: Path) -> EmailChannel:
    return EmailChannel(
        host=relay.host,
        port=relay.port,
        sender="mesh-producer@example.com",
        default_recipients=("data-platform@example.com",),
        recipients={"telephony": ("telephony-team@example.com", "oncall@example.com")},
        username=relay.user,
        password_file=password_file,
        ca_file=relay.ca_file,
    )


@pytest.fixture
async def monitor_for() -> AsyncIterator[object]:
    tasks: list[asyncio.Task[None]] = []

    def make(channel: EmailChannel) -> tuple[AlertMonitor, CollectorRegistry]:
        registry = CollectorRegistry()
        monitor = AlertMonitor(
            webhook_url=None,
            threshold_ratio=0.05,
            min_records=50,
            window_seconds=3600,
            cooldown_seconds=600,
            metrics=Metrics(registry),
            clock=_Clock(),
            email=channel,
        )
        tasks.append(asyncio.create_task(monitor.run_sender(), name="alerts"))
        return monitor, registry

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _window() -> Window:
    return Window(_T0, _T0 + timedelta(minutes=15))


def _secret(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "smtp-password"
    path.write_text(value + "\n", encoding="utf-8")
    return path


def _sent(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value(
        "mesh_alerts_total", {"domain": "telephony", "outcome": outcome}
    )
    return value or 0.0


async def test_an_alert_is_emailed_to_the_domains_recipients_over_starttls(
    relay: Relay, tmp_path: Path, monitor_for: object
) -> None:
    channel = _channel(relay, _secret(tmp_path, relay.password))
    monitor, registry = monitor_for(channel)  # type: ignore[operator]
    monitor.observe("telephony", _window(), Counts(100, 90, 10), {"enum": 7, "type": 3}, _DLQ)
    assert await monitor.flush(10.0)
    assert len(relay.messages) == 1
    recipients, message = relay.messages[0]
    assert recipients == ["telephony-team@example.com", "oncall@example.com"]
    assert message["Subject"] == (
        "[mesh-producer] telephony: 10 of 100 records dead-lettered (10.0%)"
    )
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert "enum: 7" in text
    assert _DLQ in text
    assert relay.logins == [(relay.user, True)]
    assert _sent(registry, "sent") == 1


async def test_a_rotated_password_file_is_read_at_the_next_send(
    relay: Relay, tmp_path: Path
) -> None:
    secret = _secret(tmp_path, relay.password)
    channel = _channel(relay, secret)
    assert (await channel.send("quality", "one", "first")).sent
    relay.password = "rotated-password"
    secret.write_text("rotated-password\n", encoding="utf-8")
    assert (await channel.send("quality", "two", "second")).sent
    assert [r for r, _ in relay.messages] == [["data-platform@example.com"]] * 2
    assert relay.logins == [(relay.user, True), (relay.user, True)]


async def test_a_transient_refusal_is_retried_and_a_permanent_one_is_not(
    relay: Relay, tmp_path: Path, monitor_for: object
) -> None:
    channel = _channel(relay, _secret(tmp_path, relay.password))
    relay.replies.extend(["451 4.3.0 try again later"])
    monitor, registry = monitor_for(channel)  # type: ignore[operator]
    monitor.observe("telephony", _window(), Counts(100, 90, 10), {"enum": 10}, _DLQ)
    assert await monitor.flush(10.0)
    assert len(relay.messages) == 1
    assert _sent(registry, "retried") == 1
    relay.replies.append("554 5.7.1 rejected")
    outcome = await channel.send("telephony", "x", "y")
    assert not outcome.sent
    assert outcome.reason == "SMTP 554"
    assert not outcome.retryable


async def test_a_relay_without_starttls_never_sees_the_password(
    plain_relay: Relay, tmp_path: Path
) -> None:
    channel = _channel(plain_relay, _secret(tmp_path, plain_relay.password))
    outcome = await channel.send("telephony", "x", "y")
    assert not outcome.sent
    assert outcome.reason == "the relay does not offer STARTTLS"
    assert not outcome.retryable
    assert plain_relay.logins == []
    assert plain_relay.messages == []


async def test_a_wrong_password_is_a_permanent_failure(relay: Relay, tmp_path: Path) -> None:
    channel = _channel(relay, _secret(tmp_path, "not-the-password"))
    outcome = await channel.send("telephony", "x", "y")
    assert not outcome.sent
    assert outcome.reason.startswith("login refused")
    assert not outcome.retryable
    assert "not-the-password" not in outcome.reason
    assert relay.messages == []
