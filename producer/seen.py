"""A bounded set of record ids: has this id been seen before in this window (or this audit)?

Used by step 3 (``routing``: a window's repeat check must see every id of the window, whatever
order the source sends them in) and by ``lake audit`` (a record id twice in a product). The
contract: ``add(id)`` is True exactly the first time an id is added (exact for ids still in
memory; on disk ids are 128-bit digests, so two different ids are taken for one with probability
about n²/2¹²⁹: 1.5·10⁻²⁷ for a million ids). Memory stays bounded; what exceeds it goes to an
anonymous temporary file that the system removes when it is closed (or the process dies).

How (why this shape):

- The first ``memory_ids`` ids are kept as they are in a Python ``set``: exact, and the cheapest
  check there is (one hash of a string the parser already made). Windows of ordinary size never
  leave it, so the hot loop pays what it always paid.
- When the set is full its ids are digested (BLAKE2b, 16 bytes), sorted and appended to the
  temporary file as a *run* (an immutable sorted array), and the set starts empty again. Each run
  keeps in memory the first digest of every 4 KiB block (a sparse index, 1/256 of its size).
- One in-memory Bloom filter (two probes from the digest, 16 bits per spilled id, so about 1.4 %
  false positives; at most ``max_filter_bytes``, beyond which it only gets less selective) covers
  every run. A new id is digested and checked against the filter; only when the filter says
  "maybe" is each run searched: one 4 KiB ``pread`` and a search of that block per run. The
  filter is rebuilt twice as large (one sequential read of the file) when its ids outgrow it.
- Runs are never merged: merging costs a pass over every spilled id, more than the rare searches
  it would spare (a duplicate, or a false positive, 1 in 70 new ids).

Memory: about 120 bytes per id up to ``memory_ids`` (16,384 by default: 2 MB), then 2 bytes per
spilled id for the filter and 1/16 byte for the index (a million ids: 2 MB + 16 MB on disk).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import weakref
from bisect import bisect_right
from dataclasses import dataclass
from typing import IO

__all__ = ["DIGEST_BYTES", "SeenIds", "digest"]

DIGEST_BYTES = 16
_BLOCK_IDS = 256  # digests per block of a run: one pread of 4 KiB
_BLOCK_BYTES = _BLOCK_IDS * DIGEST_BYTES
_FILTER_BITS_PER_ID = 16
_READ_IDS = 65_536  # digests per sequential read when the filter is rebuilt


def digest(record_id: str) -> bytes:
    """The 16-byte BLAKE2b digest an id is known by once spilled."""
    return hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class _Run:
    """Sorted digests at ``offset`` of the file; ``fences`` the first digest of each block."""

    offset: int
    count: int
    fences: list[bytes]


class SeenIds:
    """Ids seen so far, exact in memory up to ``memory_ids``, spilled to a temporary file beyond.

    ``filter_bytes`` is the filter's size at the first spill (2 MiB: 1.4 % false positives up to
    a million ids), ``max_filter_bytes`` what it may grow to. ``spill_dir`` is where the
    temporary file goes (default: ``$TMPDIR``). Not thread-safe; one instance per window attempt
    (or per audit). ``close`` (or leaving a ``with`` block, or the instance being collected)
    removes the file.
    """

    def __init__(
        self,
        *,
        memory_ids: int = 16_384,
        filter_bytes: int = 2 << 20,
        max_filter_bytes: int = 8 << 20,
        spill_dir: str | None = None,
    ) -> None:
        if memory_ids < 1:
            raise ValueError("memory_ids must be at least 1")
        self._memory_ids = memory_ids
        self._max_filter_bits = _power_of_two(max(1, max_filter_bytes) * 8)
        self._first_filter_bits = min(
            _power_of_two(max(1, filter_bytes) * 8), self._max_filter_bits
        )
        self._spill_dir = spill_dir
        self._ids: set[str] = set()  # before the first spill: the ids themselves
        self._keys: set[bytes] | None = None  # after it: digests of the ids not spilled yet
        self._runs: list[_Run] = []
        self._spilled = 0
        self._file: IO[bytes] | None = None
        self._fd = -1
        self._filter = bytearray()
        self._mask = 0
        self._closer: weakref.finalize[[], SeenIds] | None = None

    def __len__(self) -> int:
        return len(self._ids) + len(self._keys or ()) + self._spilled

    @property
    def spilled(self) -> int:
        """How many ids are on disk (0 while everything fits in memory)."""
        return self._spilled

    def add(self, record_id: str) -> bool:
        """Add ``record_id``; True if it is new, False if it was added before."""
        keys = self._keys
        if keys is None:  # the common case: a window that fits in memory
            ids = self._ids
            if record_id in ids:
                return False
            ids.add(record_id)
            if len(ids) >= self._memory_ids:
                self._spill()
            return True
        key = digest(record_id)
        if key in keys or self._spilled_before(key):
            return False
        keys.add(key)
        if len(keys) >= self._memory_ids:
            self._spill()
        return True

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, str):
            return False
        if self._keys is None:
            return record_id in self._ids
        key = digest(record_id)
        return key in self._keys or self._spilled_before(key)

    def close(self) -> None:
        """Forget every id and remove the temporary file (idempotent)."""
        if self._closer is not None:
            self._closer()
        self._file, self._fd, self._closer = None, -1, None
        self._ids, self._keys = set(), None
        self._runs = []
        self._spilled = 0
        self._filter = bytearray()

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the spill path --

    def _spill(self) -> None:
        """Write the ids in memory as one sorted run, index it, add it to the filter."""
        if self._keys is None:
            keys = sorted(digest(record_id) for record_id in self._ids)
            self._ids = set()
        else:
            keys = sorted(self._keys)
        self._keys = set()
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._spill_dir)  # noqa: SIM115
            self._fd = self._file.fileno()
            self._closer = weakref.finalize(self, self._file.close)
        offset = self._spilled * DIGEST_BYTES
        data = b"".join(keys)
        written = os.pwrite(self._fd, data, offset)
        while written < len(data):  # a short write: the rest
            written += os.pwrite(self._fd, data[written:], offset + written)
        self._runs.append(_Run(offset, len(keys), keys[::_BLOCK_IDS]))
        self._spilled += len(keys)
        bits = max(len(self._filter) * 8, self._first_filter_bits)
        while self._spilled * _FILTER_BITS_PER_ID > bits and bits < self._max_filter_bits:
            bits *= 4
        bits = min(bits, self._max_filter_bits)
        if bits != len(self._filter) * 8:
            self._rebuild_filter(bits)
        else:
            self._remember(data)

    def _rebuild_filter(self, bits: int) -> None:
        """A filter of ``bits`` bits over every spilled digest (one sequential read)."""
        self._filter = bytearray(bits // 8)
        self._mask = bits - 1
        position, end = 0, self._spilled * DIGEST_BYTES
        while position < end:
            chunk = os.pread(self._fd, min(_READ_IDS * DIGEST_BYTES, end - position), position)
            if not chunk:
                raise OSError("the spill file is shorter than what was written to it")
            position += len(chunk)
            self._remember(chunk)

    def _remember(self, data: bytes) -> None:
        """Set the filter's two bits of every digest in ``data`` (concatenated digests)."""
        bits, mask, from_bytes = self._filter, self._mask, int.from_bytes
        for start in range(0, len(data), DIGEST_BYTES):
            value = from_bytes(data[start : start + DIGEST_BYTES], "little")
            first, second = value & mask, (value >> 64) & mask
            bits[first >> 3] |= 1 << (first & 7)
            bits[second >> 3] |= 1 << (second & 7)

    def _spilled_before(self, key: bytes) -> bool:
        """Whether ``key`` is on disk: the filter first, then the runs it cannot rule out."""
        value = int.from_bytes(key, "little")
        first, second = value & self._mask, (value >> 64) & self._mask
        bits = self._filter
        if not (bits[first >> 3] >> (first & 7) & 1 and bits[second >> 3] >> (second & 7) & 1):
            return False
        for run in self._runs:  # one block read and searched per run
            block = bisect_right(run.fences, key) - 1
            if block < 0:
                continue
            ids = min(_BLOCK_IDS, run.count - block * _BLOCK_IDS)
            data = os.pread(self._fd, ids * DIGEST_BYTES, run.offset + block * _BLOCK_BYTES)
            found = data.find(key)
            while found != -1 and found % DIGEST_BYTES:  # only whole, aligned digests count
                found = data.find(key, found + 1)
            if found != -1:
                return True
        return False


def _power_of_two(n: int) -> int:
    """The largest power of two not above ``n`` (at least 8)."""
    return max(8, 1 << (n.bit_length() - 1))
