"""``KinesisPort`` on moto's Kinesis through ``KinesisFaultProxy``: the PutRecords limits.

Calls hold at most 500 records and 5 MiB; a record over 1 MiB is returned as too large and
never sent; the others are all published, in order.
"""

from __future__ import annotations

import pytest

from producer.bus.kinesis import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    open_kinesis_port,
)
from producer.bus.port import Event, event_for
from tests.fixtures.kinesis import KinesisFaultProxy, read_stream


def _events(n: int, size: int) -> list[Event]:
    filler = "x" * size
    return [
        event_for(
            "telephony", f"id-{i:05d}", "1.0", b'{"data":{"n":%d,"f":"%s"}}' % (i, filler.encode())
        )
        for i in range(n)
    ]


# aiohttp warns (a ResourceWarning, hidden outside tests) when botocore hands it a request body
# over 1 MiB as bytes; a PutRecords call near the 5 MiB limit is one.
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
async def test_calls_stay_within_500_records_and_5_mib(
    kinesis_fault_proxy: KinesisFaultProxy, kinesis_env: str, stream: str
) -> None:
    """1,100 small events go in calls of 500, 500, 100; 60 events of 100 kB in calls of at most
    5 MiB; every event is on the stream once."""
    small, large = _events(1100, 10), _events(60, 100_000)
    async with open_kinesis_port(stream, retry_budget_s=5) as port:
        first = await port.publish(small)
        calls = len(kinesis_fault_proxy.entries)
        second = await port.publish(large)
    assert kinesis_fault_proxy.entries[:calls] == [500, 500, 100]
    assert len(kinesis_fault_proxy.entries) - calls >= 2
    assert max(kinesis_fault_proxy.entries) <= MAX_BATCH_RECORDS
    assert max(kinesis_fault_proxy.sizes) <= MAX_BATCH_BYTES
    assert (first.published, second.published) == (1100, 60)
    keys = [r.key for r in read_stream(kinesis_env, stream)]
    assert sorted(keys) == sorted(e.key for e in small + large)


async def test_a_record_over_1_mib_is_returned_not_sent(
    kinesis_fault_proxy: KinesisFaultProxy, kinesis_env: str, stream: str
) -> None:
    """The oversized event comes back as too large; the ones around it are published."""
    before, after = _events(2, 10)
    huge = _events(1, MAX_RECORD_BYTES)[0]
    async with open_kinesis_port(stream, retry_budget_s=5) as port:
        result = await port.publish([before, huge, after])
    assert result.too_large == [huge]
    assert result.published == 2
    assert sum(kinesis_fault_proxy.entries) == 2
    assert {r.key for r in read_stream(kinesis_env, stream)} == {before.key, after.key}
