"""Step 5b, sink: the Kinesis Data Streams ``EventPort``, on aiobotocore, with bounded retries.

``KinesisPort`` publishes events with PutRecords: batches of at most 500 records and 5 MiB (data
and partition keys) per call, 1 MiB per record (an event beyond that is returned as too large,
never sent). A partial failure (``FailedRecordCount`` > 0) sends again only the entries that
failed; a whole call refused (``ProvisionedThroughputExceededException``, a 5xx, a reset) is sent
again whole; both after a capped exponential backoff with jitter, for at most ``retry_budget_s``
from the batch's first failure, then ``StreamError``. Entries are retried in their order, and a
record id appears once per window, so the order per partition key holds. botocore's own retries
are off (one attempt per call) so that every retry is counted here. ``open_kinesis_port`` is the
only place a Kinesis client is created: region and credentials from the AWS chain,
``AWS_ENDPOINT_URL_KINESIS`` for a local server.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from producer.bus.port import Event, PublishResult
from producer.clock import Clock, SystemClock
from producer.errors import StreamError

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_RECORD_BYTES",
    "KinesisPort",
    "open_kinesis_port",
]

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
_CONNECT_TIMEOUT_S = 10.0
_READ_TIMEOUT_S = 30.0
_BACKOFF_FIRST_S = 0.05
_BACKOFF_CAP_S = 5.0
_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
    }
)


class KinesisPort:
    """An ``EventPort`` on one Kinesis stream (``stream``: a name or an ARN), through an
    aiobotocore Kinesis client the caller owns (no Kinesis stubs are installed: ``Any``)."""

    def __init__(
        self, client: Any, stream: str, *, retry_budget_s: float, clock: Clock | None = None
    ) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._target = (
            {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        )
        self._budget_s = retry_budget_s
        self.description = f"kinesis://{stream}"

    async def publish(self, events: Sequence[Event]) -> PublishResult:
        result = PublishResult()
        fitting = []
        for event in events:
            if _size(event) > MAX_RECORD_BYTES:
                result.too_large.append(event)
            else:
                fitting.append(event)
        for batch in _batches(fitting):
            await self._put(batch, result)
        return result

    async def close(self) -> None:
        """Nothing to release: the client belongs to ``open_kinesis_port``."""

    async def _put(self, batch: list[Event], result: PublishResult) -> None:
        """Send ``batch`` until every entry is accepted; only failed entries are sent again."""
        pending = batch
        deadline: float | None = None
        attempt = 0
        while True:
            reason = ""
            try:
                response = await self._client.put_records(
                    Records=[{"Data": e.data, "PartitionKey": _key(e)} for e in pending],
                    **self._target,
                )
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if code in _THROTTLE_CODES:
                    result.throttled += 1
                elif status < 500:  # a missing stream, a denied call: retrying will not help
                    raise StreamError(f"{self.description}: PutRecords failed: {code}") from exc
                reason = f"PutRecords failed: {code or status}"
                failed = pending
            except Exception as exc:  # a reset, a timeout: the call's fate is unknown, resend
                reason = f"PutRecords failed: {type(exc).__name__}: {exc}"
                failed = pending
            else:
                entries = response.get("Records", [])
                if not response.get("FailedRecordCount"):
                    result.published += len(pending)
                    return
                failed = [e for e, r in zip(pending, entries, strict=True) if r.get("ErrorCode")]
                result.published += len(pending) - len(failed)
                result.throttled += sum(1 for r in entries if r.get("ErrorCode") in _THROTTLE_CODES)
                codes = sorted({str(r["ErrorCode"]) for r in entries if r.get("ErrorCode")})
                reason = f"{len(failed)} of {len(pending)} entries failed: {', '.join(codes)}"
            now = self._clock.monotonic()
            deadline = deadline if deadline is not None else now + self._budget_s
            if now >= deadline:
                raise StreamError(
                    f"{self.description}: unavailable for {self._budget_s:g} s, last: {reason}"
                )
            attempt += 1
            delay = random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_FIRST_S * 2**attempt))
            await self._clock.sleep(min(delay, deadline - now))
            result.retried += len(failed)
            pending = failed


def _key(event: Event) -> str:
    """The partition key: the record id (Kinesis takes 1 to 256 characters)."""
    return event.key[:256] or "-"


def _size(event: Event) -> int:
    return len(event.data) + len(_key(event).encode())


def _batches(events: list[Event]) -> Iterator[list[Event]]:
    """Consecutive batches within ``MAX_BATCH_RECORDS`` and ``MAX_BATCH_BYTES``."""
    batch: list[Event] = []
    size = 0
    for event in events:
        event_size = _size(event)
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + event_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


@contextlib.asynccontextmanager
async def open_kinesis_port(stream: str, *, retry_budget_s: float) -> AsyncIterator[KinesisPort]:
    """A ``KinesisPort`` on ``stream`` whose client lives for the ``async with``."""
    session = get_session()
    region = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    if stream.startswith("arn:"):
        region = stream.split(":")[3] or region
    config = AioConfig(
        retries={"total_max_attempts": 1},  # every retry is ours, counted and budgeted
        connect_timeout=_CONNECT_TIMEOUT_S,
        read_timeout=_READ_TIMEOUT_S,
    )
    async with session.create_client("kinesis", region_name=region, config=config) as client:
        yield KinesisPort(client, stream, retry_budget_s=retry_budget_s)
