"""Object stores: the same contract on the file:// lake, S3 (moto), Azure Blob (Azurite) and GCS
(fake-gcs-server), each over HTTP on loopback.

Every test taking ``store`` runs against every backend (``lake_backend`` is parametrised).
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

import producer
from producer.errors import PreconditionFailedError, StoreError
from producer.lake.s3 import S3Store
from producer.lake.store import (
    FileStore,
    ObjectStore,
    Precondition,
    md5_etag,
    open_store,
)
from producer.settings import LakeLocation
from tests.fixtures.s3 import read_lake, s3_client


class TestBasics:
    async def test_put_get_etag_list_delete(self, store: ObjectStore) -> None:
        """A put object reads back with an MD5 ETag, is listed under its prefix, and deletes."""
        etag = await store.put("p/v1/a.ndjson.gz", b"payload")
        assert etag == md5_etag(b"payload")
        found = await store.get("p/v1/a.ndjson.gz")
        assert found is not None
        assert (found.data, found.etag) == (b"payload", etag)
        assert await store.etag("p/v1/a.ndjson.gz") == etag
        assert await store.list_keys("p/") == ["p/v1/a.ndjson.gz"]
        await store.delete("p/v1/a.ndjson.gz")
        assert await store.get("p/v1/a.ndjson.gz") is None
        assert await store.list_keys("p/") == []

    async def test_absent_keys(self, store: ObjectStore) -> None:
        """Absent objects read as None, and deleting one is not an error."""
        assert await store.get("nothing/here.json") is None
        assert await store.etag("nothing/here.json") is None
        await store.delete("nothing/here.json")
        assert await store.list_keys("nothing/") == []

    async def test_overwrite_replaces_the_whole_object(self, store: ObjectStore) -> None:
        """A plain put replaces the object and its ETag."""
        await store.put("k/x.json", b"first version, longer")
        etag = await store.put("k/x.json", b"second")
        found = await store.get("k/x.json")
        assert found is not None
        assert (found.data, found.etag) == (b"second", etag)

    async def test_list_is_sorted_and_honours_partial_prefixes(self, store: ObjectStore) -> None:
        """list_keys takes a plain string prefix (not only folders) and returns sorted keys."""
        keys = [
            "p/dt=2024-01-02/hour=00/t-2-part-00000.gz",
            "p/dt=2024-01-01/hour=23/t-1-part-00001.gz",
            "p/dt=2024-01-01/hour=23/t-1-part-00000.gz",
            "p/dt=2024-01-01/hour=23/u-1-part-00000.gz",
            "q/other.json",
        ]
        for key in keys:
            await store.put(key, key.encode())
        assert await store.list_keys("p/dt=2024-01-01/hour=23/t-1-part-") == [
            "p/dt=2024-01-01/hour=23/t-1-part-00000.gz",
            "p/dt=2024-01-01/hour=23/t-1-part-00001.gz",
        ]
        assert await store.list_keys("") == sorted(keys)
        assert await store.list_keys("p/dt=2024-01-0") == sorted(keys[:4])

    async def test_description_names_the_lake(self, store: ObjectStore) -> None:
        """The description (for logs and errors) names the backend and where it is."""
        assert store.description.startswith(("s3://lake-", "az://lake-", "gs://lake-", "file:///"))


class TestConditionalPuts:
    async def test_if_none_match_creates_once(self, store: ObjectStore) -> None:
        """If-None-Match creates an absent key and refuses an existing one, leaving it intact."""
        etag = await store.put("_state/c.json", b"one", only_if=Precondition.create())
        with pytest.raises(PreconditionFailedError):
            await store.put("_state/c.json", b"two", only_if=Precondition.create())
        found = await store.get("_state/c.json")
        assert found is not None
        assert (found.data, found.etag) == (b"one", etag)

    async def test_if_match_refuses_a_stale_etag_and_accepts_the_current(
        self, store: ObjectStore
    ) -> None:
        """If-Match replaces only the version it names."""
        old = await store.put("_state/c.json", b"one")
        current = await store.put("_state/c.json", b"two")
        with pytest.raises(PreconditionFailedError):
            await store.put("_state/c.json", b"three", only_if=Precondition.replacing(old))
        newest = await store.put("_state/c.json", b"three", only_if=Precondition.replacing(current))
        found = await store.get("_state/c.json")
        assert found is not None
        assert (found.data, found.etag) == (b"three", newest)

    async def test_if_match_on_a_missing_key_is_refused(self, store: ObjectStore) -> None:
        """If-Match cannot succeed on a deleted object: the writer's view is stale."""
        with pytest.raises(PreconditionFailedError):
            await store.put(
                "_state/gone.json", b"x", only_if=Precondition.replacing(md5_etag(b"x"))
            )
        assert await store.get("_state/gone.json") is None

    async def test_two_concurrent_cas_writers_one_wins(self, store: ObjectStore) -> None:
        """Two writers holding the same ETag race: exactly one put lands, the other is refused."""
        base = await store.put("_state/c.json", b"base")
        results = await asyncio.gather(
            store.put("_state/c.json", b"writer-a", only_if=Precondition.replacing(base)),
            store.put("_state/c.json", b"writer-b", only_if=Precondition.replacing(base)),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, str)]
        losers = [r for r in results if isinstance(r, PreconditionFailedError)]
        assert (len(winners), len(losers)) == (1, 1)
        found = await store.get("_state/c.json")
        assert found is not None
        assert found.etag == winners[0]
        assert found.data == (b"writer-a" if results[0] == winners[0] else b"writer-b")

    async def test_concurrent_creators_one_wins(self, store: ObjectStore) -> None:
        """Several create-only writers race on an absent key: exactly one creates it."""
        results = await asyncio.gather(
            *(
                store.put("_state/new.json", b"w%d" % i, only_if=Precondition.create())
                for i in range(6)
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(r, str) for r in results) == 1
        assert sum(isinstance(r, PreconditionFailedError) for r in results) == 5


_PROJECT = Path(producer.__file__).resolve().parents[1]
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from producer.errors import PreconditionFailedError
    from producer.lake.store import FileStore, Precondition

    async def main(root: str, key: str, increments: int) -> None:
        store = FileStore(Path(root))
        done = 0
        while done < increments:
            current = await store.get(key)
            assert current is not None
            value = int(current.data) + 1
            try:
                replace = Precondition.replacing(current.etag)
                await store.put(key, str(value).encode(), only_if=replace)
            except PreconditionFailedError:
                continue
            done += 1

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


class TestFileStore:
    async def test_if_match_is_safe_across_processes(self, tmp_path: Path) -> None:
        """Processes doing read-modify-write with If-Match on one file never lose an update."""
        store = FileStore(tmp_path)
        await store.put("_state/counter", b"0")
        processes, increments = 4, 25
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _CHILD,
                str(tmp_path),
                "_state/counter",
                str(increments),
                cwd=_PROJECT,
            )
            for _ in range(processes)
        ]
        codes = [await child.wait() for child in children]
        assert codes == [0] * processes
        found = await store.get("_state/counter")
        assert found is not None
        assert int(found.data) == processes * increments

    async def test_temp_and_hidden_files_are_never_keys(self, tmp_path: Path) -> None:
        """Leftover temp files (a crash mid-write) and hidden entries are not listed as keys."""
        store = FileStore(tmp_path)
        await store.put("p/a.json", b"{}")
        (tmp_path / "p" / ".a.json.1234.tmp").write_bytes(b"half")
        (tmp_path / "p" / ".hidden").mkdir()
        (tmp_path / "p" / ".hidden" / "b.json").write_bytes(b"{}")
        assert await store.list_keys("") == ["p/a.json"]
        assert await store.list_keys("p/") == ["p/a.json"]

    async def test_keys_cannot_escape_the_root(self, tmp_path: Path) -> None:
        """Keys with empty, '.' or '..' segments are refused instead of touching other paths."""
        store = FileStore(tmp_path / "lake")
        for key in ["../outside.json", "a//b", "/abs", "a/./b", ".tmp"]:
            with pytest.raises(ValueError, match="segment"):
                await store.put(key, b"x")

    @pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o640), (0o077, 0o600)])
    async def test_objects_are_not_world_readable(
        self, tmp_path: Path, umask: int, expected: int
    ) -> None:
        """Lake objects hold raw source data: created 0640 less the umask, never world-readable
        (a plain put, a create-only put and an If-Match replace alike)."""
        store = FileStore(tmp_path)
        previous = os.umask(umask)
        try:
            await store.put("p/plain.json", b"{}")
            await store.put("p/created.json", b"{}", only_if=Precondition.create())
            etag = await store.put("p/replaced.json", b"{}")
            await store.put("p/replaced.json", b"[]", only_if=Precondition.replacing(etag))
        finally:
            os.umask(previous)
        for name in ("plain.json", "created.json", "replaced.json"):
            mode = stat.S_IMODE((tmp_path / "p" / name).stat().st_mode)
            assert mode == expected, (name, oct(mode))

    async def test_os_errors_become_store_errors_naming_the_key(self, tmp_path: Path) -> None:
        """An I/O failure is a StoreError naming the key (here: a file where a folder must be)."""
        store = FileStore(tmp_path)
        await store.put("p/file", b"x")
        with pytest.raises(StoreError, match="p/file/child"):
            await store.put("p/file/child", b"y")

    async def test_open_store_gives_a_file_store(self, tmp_path: Path) -> None:
        """file:// lake URLs open a FileStore on that path; nothing is created until a put."""
        location = LakeLocation.parse((tmp_path / "lake").as_uri())
        async with open_store(location) as store:
            assert isinstance(store, FileStore)
            assert store.description == (tmp_path / "lake").as_uri()
            assert not (tmp_path / "lake").exists()
            await store.put("x/y.json", b"{}")
        assert (tmp_path / "lake" / "x" / "y.json").read_bytes() == b"{}"


class TestS3Store:
    async def test_root_prefix_and_metadata(self, s3_env: str, bucket: str) -> None:
        """s3://bucket/root puts keys under root (listed without it), with metadata and type."""
        async with open_store(LakeLocation.parse(f"s3://{bucket}/nested/root/")) as store:
            assert isinstance(store, S3Store)
            assert store.description == f"s3://{bucket}/nested/root"
            await store.put("p/a.ndjson.gz", b"gz", metadata={"schema-version": "1.0"})
            await store.put("p/_state/checkpoint.json", b"{}")
            assert await store.list_keys("") == ["p/_state/checkpoint.json", "p/a.ndjson.gz"]
        assert set(read_lake(s3_env, bucket)) == {
            "nested/root/p/a.ndjson.gz",
            "nested/root/p/_state/checkpoint.json",
        }
        client = s3_client(s3_env)
        try:
            head = client.head_object(Bucket=bucket, Key="nested/root/p/a.ndjson.gz")
        finally:
            client.close()
        assert head["Metadata"] == {"schema-version": "1.0"}
        assert head["ContentType"] == "application/gzip"

    async def test_bucket_override(self, s3_env: str, bucket: str) -> None:
        """A domain's own bucket overrides the lake's bucket (per-domain output ports)."""
        async with open_store(LakeLocation.parse("s3://shared-lake"), bucket=bucket) as store:
            await store.put("k.json", b"{}")
        assert read_lake(s3_env, bucket) == {"k.json": b"{}"}

    async def test_failures_are_store_errors_naming_the_key(self, s3_env: str) -> None:
        """An S3 failure (a missing bucket) is a StoreError naming the key, with no credentials."""
        async with open_store(LakeLocation.parse("s3://no-such-bucket-here")) as store:
            with pytest.raises(StoreError) as caught:
                await store.put("p/_state/checkpoint.json", b"{}")
            with pytest.raises(StoreError, match="NoSuchBucket"):
                await store.list_keys("p/")
        message = str(caught.value)
        assert "p/_state/checkpoint.json" in message
        assert "NoSuchBucket" in message
        assert "testing" not in message
        assert not isinstance(caught.value, PreconditionFailedError)
