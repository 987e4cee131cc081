"""Step 5b's buffer: a window's landed lines kept until its lake objects are written.

Events are published after the window's parts are put and before its checkpoint commits, so the
landed lines of a window wait here meanwhile. A window may hold a million records: the spool
keeps ``memory_bytes`` in memory (a ``SpooledTemporaryFile``) and spills the rest to an
anonymous temporary file that the system removes when it is closed (or the process dies). Each
entry is framed as two 4-byte big-endian lengths, then the record id and the line.
``batches`` reads them back in order, a bounded list at a time.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator

__all__ = ["LineSpool"]

_FRAME = struct.Struct(">II")
MEMORY_BYTES = 8 * 1024 * 1024


class LineSpool:
    """(record id, line) pairs of one window and one major, in the order they were landed."""

    def __init__(self, memory_bytes: int = MEMORY_BYTES) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=memory_bytes)  # noqa: SIM115
        self.count = 0

    def add(self, record_id: str, line: bytes) -> None:
        key = record_id.encode()
        self._file.write(_FRAME.pack(len(key), len(line)))
        self._file.write(key)
        self._file.write(line)
        self.count += 1

    def batches(self, size: int) -> Iterator[list[tuple[str, bytes]]]:
        """Every pair, in order, ``size`` at a time."""
        self._file.seek(0)
        batch: list[tuple[str, bytes]] = []
        for _ in range(self.count):
            key_len, line_len = _FRAME.unpack(self._file.read(_FRAME.size))
            key = self._file.read(key_len).decode()
            batch.append((key, self._file.read(line_len)))
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        self._file.close()
