"""The Azure Blob and GCS stores under HTTP faults: bursts absorbed, lasting failures bounded.

Each store talks to its emulator (Azurite, fake-gcs-server) through ``HttpFaultProxy``, which
answers the cloud's own 503/500 errors, resets connections and stalls requests. A short burst
of 503s, a reset and a stalled request are absorbed by the store's retries and timeouts; a
failure that lasts ends as ``StoreError`` naming the key after a bounded number of attempts
(on Azure 4, with about 17 s of backoff in all; on GCS 5, with at most 7.5 s), never a hang.
The objects are read back through the same store once the proxy forwards again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from producer.errors import PreconditionFailedError, StoreError
from producer.lake.azure import AZURE_MAX_RETRIES
from producer.lake.gcs import GCS_MAX_ATTEMPTS
from producer.lake.store import Precondition, open_store
from producer.settings import LakeLocation
from tests.fixtures.http_faults import HttpFaultProxy

_KEY = "product/v1/dt=2024-05-01/hour=10/telephony-part-00000.ndjson.gz"
_GENEROUS_S = 120.0  # far above the worst backoff of either SDK: only a hang can exceed it


@dataclass(frozen=True, slots=True)
class _Lake:
    proxy: HttpFaultProxy
    location: LakeLocation
    write: str  # the HTTP method of an upload: Put Blob, or the JSON API's multipart POST
    attempts: int  # attempts per call before a lasting failure is given up


@pytest.fixture(params=["az", "gs"])
def lake(request: pytest.FixtureRequest) -> _Lake:
    """A fresh container (or bucket) reached through a fault proxy."""
    if request.param == "az":
        proxy: HttpFaultProxy = request.getfixturevalue("azure_faults_env")
        name = request.getfixturevalue("container")
        return _Lake(proxy, LakeLocation.parse(f"az://{name}"), "PUT", AZURE_MAX_RETRIES + 1)
    proxy = request.getfixturevalue("gcs_faults_env")
    name = request.getfixturevalue("gcs_bucket")
    return _Lake(proxy, LakeLocation.parse(f"gs://{name}"), "POST", GCS_MAX_ATTEMPTS)


def _outcomes(proxy: HttpFaultProxy, method: str) -> list[str]:
    return [record.outcome for record in proxy.records if record.method == method]


async def test_a_503_burst_is_absorbed(lake: _Lake) -> None:
    """Two 503s on the upload and one on the read: the put and the get still succeed."""
    lake.proxy.unavailable_next(2, method=lake.write)
    lake.proxy.unavailable_next(1, method="GET")
    async with open_store(lake.location) as store:
        etag = await store.put(_KEY, b"part bytes", only_if=Precondition.create())
        found = await store.get(_KEY)
    assert found is not None
    assert (found.data, found.etag) == (b"part bytes", etag)
    assert _outcomes(lake.proxy, lake.write) == ["slow_down", "slow_down", "forwarded"]
    assert _outcomes(lake.proxy, "GET")[:2] == ["slow_down", "forwarded"]


async def test_a_connection_reset_is_absorbed(lake: _Lake) -> None:
    """A reset before the upload reaches the emulator, and one on the read: both retried."""
    lake.proxy.reset_next(1, method=lake.write)
    lake.proxy.reset_next(1, method="GET")
    async with open_store(lake.location) as store:
        await store.put(_KEY, b"part bytes", only_if=Precondition.create())
        found = await store.get(_KEY)
    assert found is not None
    assert found.data == b"part bytes"
    assert _outcomes(lake.proxy, lake.write) == ["reset", "forwarded"]
    assert _outcomes(lake.proxy, "GET")[:2] == ["reset", "forwarded"]


async def test_a_create_only_put_refused_after_a_burst_is_a_precondition_failure(
    lake: _Lake,
) -> None:
    """Retries do not blur the conditions: the object exists, the 503s end, the 412 (or 409)
    that follows is ``PreconditionFailedError``, not ``StoreError``, and nothing is replaced."""
    async with open_store(lake.location) as store:
        await store.put(_KEY, b"first")
        lake.proxy.unavailable_next(2, method=lake.write)
        with pytest.raises(PreconditionFailedError):
            await store.put(_KEY, b"second", only_if=Precondition.create())
        found = await store.get(_KEY)
    assert found is not None
    assert found.data == b"first"
    assert lake.proxy.served("slow_down") == 2


async def test_a_lasting_503_ends_as_a_store_error_after_bounded_attempts(lake: _Lake) -> None:
    """Every upload answers 503: the put gives up after the store's attempts with a
    ``StoreError`` naming the key and the status, and no credential."""
    lake.proxy.unavailable_next(None, method=lake.write)
    started = time.monotonic()
    async with open_store(lake.location) as store:
        with pytest.raises(StoreError) as raised:
            await store.put(_KEY, b"part bytes")
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert _KEY in message
    assert "put" in message
    assert any(code in message for code in ("503", "SERVER_BUSY")), message
    assert "AccountKey" not in message
    assert "Eby8vdM02x" not in message
    assert not isinstance(raised.value, PreconditionFailedError)
    assert lake.proxy.served("slow_down") == lake.attempts
    assert elapsed < _GENEROUS_S


async def test_a_stalled_request_times_out_and_is_sent_again(lake: _Lake) -> None:
    """An upload that gets no answer within the read timeout is abandoned and sent again."""
    lake.proxy.stall_next(1, 8.0, method=lake.write)  # shorter than the 10.5 s total
    async with open_store(lake.location, read_timeout_s=0.5) as store:
        await store.put(_KEY, b"part bytes")
        found = await store.get(_KEY)
    assert found is not None
    assert found.data == b"part bytes"
    assert _outcomes(lake.proxy, lake.write) == ["stalled", "forwarded"]


async def test_a_store_that_keeps_stalling_fails_the_call_in_bounded_time(lake: _Lake) -> None:
    """Every upload stalls: each attempt times out, and the put ends as ``StoreError``."""
    lake.proxy.stall_next(None, 60.0, method=lake.write)
    started = time.monotonic()
    async with open_store(lake.location, read_timeout_s=0.5) as store:
        with pytest.raises(StoreError) as raised:
            await store.put(_KEY, b"part bytes")
    elapsed = time.monotonic() - started
    assert _KEY in str(raised.value)
    assert lake.proxy.served("stalled") == lake.attempts
    assert elapsed < _GENEROUS_S
