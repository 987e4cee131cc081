"""The stores under faults: bounded retries and timeouts on S3, crash debris on ``file://``.

S3 calls go through ``S3FaultProxy`` in front of moto: a stalled request times out and is sent
again, a store that keeps stalling fails the call after a bounded number of attempts, a body cut
short is read again. On ``file://``, a temp file orphaned by a killed writer is swept by a later
put into its directory once old enough, and is never listed as an object meanwhile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from producer.errors import StoreError
from producer.lake.store import ORPHAN_TEMP_AGE_S, FileStore, open_store
from producer.settings import LakeLocation
from tests.fixtures.s3_faults import S3FaultProxy

_KEY = "product/v1/dt=2024-05-01/hour=10/telephony-part-00000.ndjson.gz"


async def test_a_stalled_s3_request_times_out_and_is_sent_again(
    s3_faults_env: S3FaultProxy, bucket: str
) -> None:
    """A PUT that gets no answer within the read timeout is retried, and the retry lands."""
    proxy = s3_faults_env
    proxy.stall_next(1, 30.0, method="PUT")
    location = LakeLocation.parse(f"s3://{bucket}")
    async with open_store(location, read_timeout_s=0.3) as store:
        etag = await store.put(_KEY, b"part bytes")
        found = await store.get(_KEY)
    assert found is not None
    assert (found.data, found.etag) == (b"part bytes", etag)
    puts = [(r.outcome, r.status) for r in proxy.records if r.method == "PUT"]
    assert puts == [("stalled", 0), ("forwarded", 200)]


async def test_s3_that_keeps_stalling_fails_the_call_after_bounded_attempts(
    s3_faults_env: S3FaultProxy, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt stalls: the put raises StoreError naming the key after AWS_MAX_ATTEMPTS."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    proxy = s3_faults_env
    proxy.stall_next(None, 30.0, method="PUT")
    location = LakeLocation.parse(f"s3://{bucket}")
    async with open_store(location, read_timeout_s=0.3) as store:
        with pytest.raises(StoreError, match="put") as raised:
            await store.put(_KEY, b"part bytes")
    assert _KEY in str(raised.value)
    assert "testing" not in str(raised.value), "no credential in the message"
    assert proxy.served("stalled") == 2


async def test_an_s3_body_cut_short_is_read_again(s3_faults_env: S3FaultProxy, bucket: str) -> None:
    """A GET whose body stops half-way (after botocore's retries) is fetched again whole."""
    proxy = s3_faults_env
    location = LakeLocation.parse(f"s3://{bucket}")
    async with open_store(location) as store:
        await store.put(_KEY, b"x" * 20_000)
        proxy.truncate_next(1, method="GET")
        found = await store.get(_KEY)
        assert found is not None
        assert found.data == b"x" * 20_000
        proxy.truncate_next(None, method="GET")
        with pytest.raises(StoreError, match="get"):
            await store.get(_KEY)
    assert proxy.served("truncated") == 1 + 3  # one, then every attempt of the last get


async def test_a_killed_writers_temp_file_is_never_listed_and_is_swept_later(
    tmp_path: Path,
) -> None:
    """Orphaned hidden temp files: invisible to list/get, removed by a later put once old."""
    store = FileStore(tmp_path)
    await store.put(_KEY, b"first")
    folder = (tmp_path / _KEY).parent
    old = folder / ".telephony-part-00001.ndjson.gz.0123456789ab.tmp"
    young = folder / ".telephony-part-00002.ndjson.gz.ba9876543210.tmp"
    old.write_bytes(b"half a part")
    young.write_bytes(b"a put in flight")
    long_ago = time.time() - ORPHAN_TEMP_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    assert await store.list_keys("product/") == [_KEY]

    await store.put(_KEY.replace("00000", "00003"), b"next part")

    assert not old.exists(), "the orphan of a killed writer was swept"
    assert young.exists(), "a temp file that may belong to a live put is left alone"
    assert await store.list_keys("product/") == [_KEY, _KEY.replace("00000", "00003")]
