"""CheckpointStore: versioned JSON committed by ETag compare-and-swap, on both stores."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producer.checkpoint import Checkpoint, CheckpointStore, Counts, RecentWindow, WindowRecord
from producer.errors import CheckpointConflictError, StoreError
from producer.lake.store import ObjectStore
from producer.telemetry.metrics import Metrics
from producer.windows import Resweeps, Window

PREFIX = "telephony-cdr-export"
KEY = f"{PREFIX}/_state/checkpoint.json"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def _checkpoints(
    store: ObjectStore, metrics: Metrics, domain: str = "telephony"
) -> CheckpointStore:
    return CheckpointStore(store, prefix=PREFIX, domain=domain, metrics=metrics.for_domain(domain))


def _first(watermark: datetime = T0) -> Checkpoint:
    return Checkpoint(
        domain="telephony",
        watermark=watermark,
        schema_version="1.0",
        totals=Counts(),
        last_window=None,
        updated_at=watermark + timedelta(minutes=1),
    )


def _landed(previous: Checkpoint, fetched: int = 10, dead: int = 2) -> Checkpoint:
    record = WindowRecord(
        start=previous.watermark,
        end=previous.watermark + timedelta(minutes=15),
        counts=Counts(fetched=fetched, landed=fetched - dead, dead_lettered=dead),
        data_parts=1,
        dlq_parts=1 if dead else 0,
    )
    return previous.committed(
        record,
        first_exported_at=record.end,
        replaces=None,
        keep=timedelta(hours=24),
        schema_version="1.0",
        source_available=None,
        at=record.end + timedelta(minutes=1),
    )


class TestCommit:
    async def test_no_checkpoint_yet(self, store: ObjectStore, metrics: Metrics) -> None:
        """A new domain loads (None, None): it starts from MESH_START_AT."""
        assert await _checkpoints(store, metrics).load() == (None, None)

    async def test_create_load_and_advance(self, store: ObjectStore, metrics: Metrics) -> None:
        """Create-only first commit, then CAS commits; load returns exactly what was committed."""
        checkpoints = _checkpoints(store, metrics)
        first = _first()
        etag = await checkpoints.commit(first, expect_etag=None)
        second = _landed(first)
        etag2 = await checkpoints.commit(second, expect_etag=etag)
        assert etag2 != etag
        loaded, loaded_etag = await _checkpoints(store, metrics).load()
        assert (loaded, loaded_etag) == (second, etag2)
        assert loaded is not None
        assert loaded.watermark == T0 + timedelta(minutes=15)
        assert loaded.totals == Counts(10, 8, 2)
        assert await store.etag(KEY) == etag2
        written = metrics.registry.get_sample_value(
            "mesh_objects_written_total", {"domain": "telephony", "kind": "checkpoint"}
        )
        assert written == 2

    async def test_file_is_readable_stable_json(self, store: ObjectStore, metrics: Metrics) -> None:
        """The stored JSON is indented, key-sorted, UTC 'Z' instants, with a format version."""
        await _checkpoints(store, metrics).commit(_landed(_first()), expect_etag=None)
        found = await store.get(KEY)
        assert found is not None
        text = found.data.decode()
        assert text.startswith('{\n  "domain": "telephony",\n')
        assert text.endswith("}\n")
        document = orjson.loads(found.data)
        assert list(document) == sorted(document)
        assert document["format_version"] == 1
        assert document["watermark"] == "2024-05-01T10:15:00Z"
        assert document["last_window"]["counts"] == {"dead_lettered": 2, "fetched": 10, "landed": 8}

    async def test_a_stale_etag_is_a_conflict(self, store: ObjectStore, metrics: Metrics) -> None:
        """A replica committing on an ETag that moved loses: CheckpointConflictError."""
        replica_a, replica_b = _checkpoints(store, metrics), _checkpoints(store, metrics)
        etag = await replica_a.commit(_first(), expect_etag=None)
        _, seen_by_b = await replica_b.load()
        await replica_a.commit(_landed(_first()), expect_etag=etag)
        with pytest.raises(CheckpointConflictError, match="another writer"):
            await replica_b.commit(_landed(_first(), fetched=99, dead=0), expect_etag=seen_by_b)
        loaded, _ = await replica_b.load()
        assert loaded == _landed(_first())

    async def test_create_only_refuses_an_existing_checkpoint(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """Two replicas both starting fresh: the second create is a conflict, not an overwrite."""
        await _checkpoints(store, metrics).commit(_first(), expect_etag=None)
        with pytest.raises(CheckpointConflictError):
            await _checkpoints(store, metrics).commit(
                _first(T0 + timedelta(hours=1)), expect_etag=None
            )

    async def test_two_replicas_racing_one_wins(self, store: ObjectStore, metrics: Metrics) -> None:
        """Two replicas commit on the same ETag at once: exactly one succeeds."""
        etag = await _checkpoints(store, metrics).commit(_first(), expect_etag=None)
        replicas = [_checkpoints(store, metrics) for _ in range(2)]
        for replica in replicas:
            await replica.load()
        results = await asyncio.gather(
            replicas[0].commit(_landed(_first(), fetched=1, dead=0), expect_etag=etag),
            replicas[1].commit(_landed(_first(), fetched=2, dead=0), expect_etag=etag),
            return_exceptions=True,
        )
        assert sum(isinstance(r, str) for r in results) == 1
        assert sum(isinstance(r, CheckpointConflictError) for r in results) == 1

    async def test_a_lost_response_is_not_a_lost_cas(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """Re-sending the very checkpoint that is stored (a retried put) succeeds with its ETag."""
        checkpoint = _first()
        etag = await _checkpoints(store, metrics).commit(checkpoint, expect_etag=None)
        assert await _checkpoints(store, metrics).commit(checkpoint, expect_etag=None) == etag

    async def test_commit_without_load_checks_the_stored_state(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """A store that never loaded still refuses a stale ETag and a backwards watermark."""
        etag = await _checkpoints(store, metrics).commit(_landed(_first()), expect_etag=None)
        with pytest.raises(CheckpointConflictError):
            await _checkpoints(store, metrics).commit(_landed(_first()), expect_etag='"0000"')
        with pytest.raises(ValueError, match="back"):
            await _checkpoints(store, metrics).commit(_first(), expect_etag=etag)


class TestRefusals:
    async def test_the_watermark_never_moves_backwards(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """Committing an older watermark is refused and the stored checkpoint is untouched."""
        checkpoints = _checkpoints(store, metrics)
        later = _landed(_first())
        etag = await checkpoints.commit(later, expect_etag=None)
        with pytest.raises(ValueError, match="watermark back"):
            await checkpoints.commit(_first(), expect_etag=etag)
        assert await checkpoints.load() == (later, etag)
        same = replace(later, updated_at=later.updated_at + timedelta(hours=1))
        await checkpoints.commit(same, expect_etag=etag)  # an equal watermark is fine (re-sweep)

    async def test_unbalanced_counts_are_refused(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """fetched != landed + dead-lettered never reaches the lake, in total or per window."""
        checkpoints = _checkpoints(store, metrics)
        with pytest.raises(ValueError, match="unbalanced"):
            await checkpoints.commit(replace(_first(), totals=Counts(3, 1, 1)), expect_etag=None)
        landed = _landed(_first())
        assert landed.last_window is not None
        bad_window = replace(landed.last_window, counts=Counts(5, 5, 1))
        with pytest.raises(ValueError, match="unbalanced"):
            await checkpoints.commit(replace(landed, last_window=bad_window), expect_etag=None)
        assert await store.get(KEY) is None

    async def test_another_domains_checkpoint_is_refused(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """A checkpoint object naming another domain (two domains on one prefix) is an error."""
        await _checkpoints(store, metrics).commit(_first(), expect_etag=None)
        with pytest.raises(StoreError, match="belongs to domain 'telephony'"):
            await _checkpoints(store, metrics, domain="quality").load()
        with pytest.raises(ValueError, match="given to"):
            await _checkpoints(store, metrics, domain="quality").commit(_first(), expect_etag=None)

    @pytest.mark.parametrize(
        "content",
        [
            b"{not json",
            b"",
            b"[]",
            b'{"format_version": 1, "domain": "telephony"}',
            b'{"format_version": 2, "domain": "telephony"}',
        ],
        ids=["garbage", "empty", "array", "missing-fields", "newer-format"],
    )
    async def test_a_corrupt_checkpoint_is_a_store_error(
        self, store: ObjectStore, metrics: Metrics, content: bytes
    ) -> None:
        """An unreadable checkpoint stops the domain with the key named: never a silent restart."""
        await store.put(KEY, content)
        with pytest.raises(StoreError, match=f"{KEY}.*corrupt"):
            await _checkpoints(store, metrics).load()

    async def test_bad_values_inside_valid_json_are_corrupt(
        self, store: ObjectStore, metrics: Metrics
    ) -> None:
        """Wrong types, naive instants or negative counts are corruption too."""
        await _checkpoints(store, metrics).commit(_landed(_first()), expect_etag=None)
        found = await store.get(KEY)
        assert found is not None
        good = orjson.loads(found.data)
        for change in (
            {"watermark": "2024-05-01T10:15:00"},
            {"watermark": 1714558500},
            {"totals": {"fetched": -1, "landed": -1, "dead_lettered": 0}},
            {"totals": {"fetched": True, "landed": 1, "dead_lettered": 0}},
        ):
            await store.put(KEY, orjson.dumps({**good, **change}))
            with pytest.raises(StoreError, match="corrupt"):
                await _checkpoints(store, metrics).load()


def test_counts_and_commit() -> None:
    """Counts add up; a re-export behind the watermark keeps it and replaces its counts."""
    assert Counts(3, 2, 1) + Counts(1, 1, 0) == Counts(4, 3, 1)
    assert Counts(4, 3, 1).balanced
    assert not Counts(4, 3, 0).balanced
    with pytest.raises(ValueError, match="negative"):
        Counts(-1, 0, 0)
    current = _landed(_landed(_first()))
    label = "20240501T100000Z-20240501T101500Z"
    earlier = current.recent[label]
    resweep = WindowRecord(T0, T0 + timedelta(minutes=15), Counts(1, 1, 0), 1, 0)
    swept = T0 + timedelta(days=1)
    after = current.committed(
        resweep,
        first_exported_at=earlier.first_exported_at,
        replaces=earlier.counts,
        keep=timedelta(days=2),
        schema_version="1.0",
        source_available=None,
        at=swept,
    )
    assert after.watermark == current.watermark
    assert after.totals == current.totals - Counts(10, 8, 2) + Counts(1, 1, 0)
    assert after.recent[label] == RecentWindow(Counts(1, 1, 0), earlier.first_exported_at, swept)
    with pytest.raises(ValueError, match="timezone"):
        replace(current, updated_at=datetime(2024, 1, 1))  # naive on purpose


async def test_the_resweep_schedule_round_trips_and_old_checkpoints_still_load(
    store: ObjectStore, metrics: Metrics
) -> None:
    """``last_exported_at`` is kept per recent window; a checkpoint written before it existed
    loads with each window last exported at its first export (due once the interval passed)."""
    label = "20240501T100000Z-20240501T101500Z"
    first, swept = T0 + timedelta(minutes=16), T0 + timedelta(hours=2)
    recent = {label: RecentWindow(Counts(1, 1, 0), first, last_exported_at=first)}
    checkpoint = replace(_landed(_first()), recent=recent).reswept(label, at=swept)
    assert checkpoint.recent[label] == RecentWindow(Counts(1, 1, 0), first, swept)
    assert checkpoint.updated_at == swept
    checkpoints = _checkpoints(store, metrics)
    await checkpoints.commit(checkpoint, expect_etag=None)
    assert (await checkpoints.load())[0] == checkpoint

    found = await store.get(KEY)
    assert found is not None
    old = orjson.loads(found.data)
    del old["recent_windows"][label]["last_exported_at"]
    await store.put(KEY, orjson.dumps(old))
    loaded, _ = await _checkpoints(store, metrics).load()
    assert loaded is not None
    window = loaded.recent[label]
    assert window.exported_at == first
    resweeps = Resweeps(hours=24, interval_s=3600)
    last = {label: window.exported_at}
    watermark = loaded.watermark
    assert resweeps.due(last, watermark=watermark, now=first + timedelta(minutes=59)) == []
    due = resweeps.due(last, watermark=watermark, now=first + timedelta(hours=1))
    assert due == [Window.from_label(label)]


async def test_the_platform_round_trips_and_a_checkpoint_without_one_is_genesys(
    store: ObjectStore, metrics: Metrics
) -> None:
    """A switch of platform (and when it took over) survives the store; a checkpoint that names
    none (written before CXone, or by a Genesys domain) loads as Genesys from the start."""
    checkpoints = _checkpoints(store, metrics)
    genesys = _landed(_first())
    await checkpoints.commit(genesys, expect_etag=None)
    found = await store.get(KEY)
    assert found is not None
    assert b"platform" not in found.data, "a Genesys checkpoint reads as it did before"
    loaded, etag = await checkpoints.load()
    assert loaded == genesys
    assert (loaded.platform, loaded.platform_since) == ("genesys", None)

    switched = genesys.on_platform("nice")
    await checkpoints.commit(switched, expect_etag=etag)
    again, _ = await _checkpoints(store, metrics).load()
    assert again == switched
    assert (again.platform, again.platform_since) == ("nice", genesys.watermark)
