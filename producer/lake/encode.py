"""Step 5, sink: the bytes of a lake part, compressed NDJSON. Pure, no I/O, no event loop.

Owns serialising one document to a line (orjson) and lines to a part (gzip or zstd), whole
(``encode_part``) or as the lines arrive (``PartEncoder``, same bytes), and the inverse for audits
and tests, whole (``decode_part``) or a little at a time (``part_lines``). Output is
deterministic: the same lines always give the same bytes, so the writer can skip a part whose ETag
already equals its MD5. It must not know keys or stores.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import orjson

from producer.errors import ConfigError

__all__ = [
    "COMPRESSIONS",
    "GZIP_LEVEL",
    "ZSTD_LEVEL",
    "PartEncoder",
    "decode_part",
    "encode_part",
    "json_line",
    "part_lines",
    "require_codec",
]

COMPRESSIONS = ("gzip", "zstd")

# Chosen for throughput (docs/performance.md): on a window's data and dead-letter lines, level 3
# costs about half of zlib's default 6 for ~20 % more bytes; level 9 saves 5 % more than 6 for
# twice its CPU. Readers decompress any level at the same speed. The level is part of the
# deterministic output: changing it makes every re-run rewrite its parts once.
GZIP_LEVEL = 3
# zstd's own default, the usual speed/ratio knee; same determinism remark as for gzip.
ZSTD_LEVEL = 3

_ZSTD_MISSING = "MESH_COMPRESSION: zstd needs the 'zstandard' package"
# A gzip member (header with mtime 0 and no name, deflate, CRC-32 and size trailer): the very
# bytes of gzip.compress(payload, GZIP_LEVEL, mtime=0), which also uses zlib's gzip wrapper.
_GZIP_WBITS = 31
# What ``part_lines`` decompresses at a time: a part's NDJSON is up to 32 MiB (the writer's
# PART_MAX_BYTES), its lines a few KB at most. zstd is fed this much input at a time instead (its
# streaming decompressor has no output bound), a few hundred KB of NDJSON at ratios seen here.
_READ_BYTES = 1024 * 1024
_ZSTD_INPUT_BYTES = 64 * 1024


def require_codec(compression: str) -> None:
    """Raise ``ConfigError`` now if ``compression`` is unknown or its library is not installed.

    Call it at construction so a bad ``MESH_COMPRESSION`` fails at start-up (exit 2), not on the
    first full part.
    """
    if compression not in COMPRESSIONS:
        raise ConfigError(f"MESH_COMPRESSION: {compression!r} is not one of gzip, zstd")
    if compression == "zstd":
        _zstd()


def json_line(document: Any) -> bytes:
    """One JSON document as a compact line (orjson, key order kept, no trailing newline)."""
    return orjson.dumps(document)


def encode_part(lines: Sequence[bytes], compression: str) -> bytes:
    """Join ``lines`` as NDJSON (each followed by ``\\n``) and compress them, deterministically.

    Each line is one JSON document without its newline; a line containing ``\\n`` would split
    into two records for every reader, so it raises ``ValueError``. gzip output has mtime 0 and no
    file name. ``ConfigError`` if zstd is asked for and ``zstandard`` is missing.
    """
    encoder = PartEncoder(compression)
    encoder.add(lines)
    return encoder.finish()


class PartEncoder:
    """One part's bytes, built batch by batch as its lines arrive; ``finish`` gives the part.

    The result equals ``encode_part`` of all the lines, however they were split into ``add``
    calls. gzip compresses each batch at once into one stream, so a writer holds the compressed
    part rather than its lines; zstd keeps the batches and compresses them at ``finish``, so the
    frame header records the content size (what one-shot zstd readers need). ``add`` raises
    ``ValueError`` for a line holding a newline (nothing of that batch is kept); the constructor
    raises ``ConfigError`` for an unknown codec or zstd without its package. One caller at a
    time (a worker thread is fine); ``finish`` may be called once.
    """

    def __init__(self, compression: str) -> None:
        require_codec(compression)
        self.compression = compression
        self.lines = 0
        self.raw_bytes = 0
        self._deflate = (
            zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
            if compression == "gzip"
            else None
        )
        self._chunks: list[bytes] = []

    def add(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` (JSON documents without newlines) to the part."""
        if not lines:
            return
        payload = b"\n".join([*lines, b""])  # one copy, the last newline included
        if payload.count(b"\n") != len(lines):
            index = next(i for i, line in enumerate(lines) if b"\n" in line)
            raise ValueError(
                f"line {self.lines + index} contains a newline; NDJSON needs one document a line"
            )
        self.lines += len(lines)
        self.raw_bytes += len(payload)
        if self._deflate is not None:
            compressed = self._deflate.compress(payload)
            if compressed:
                self._chunks.append(compressed)
        else:
            self._chunks.append(payload)

    def finish(self) -> bytes:
        """The part's bytes (a valid, empty part when no line was added).

        The encoder lets go of its chunks here, so while the caller stores the part, the part
        is in memory once, not twice.
        """
        chunks, self._chunks = self._chunks, []
        if self._deflate is not None:
            chunks.append(self._deflate.flush())
            return b"".join(chunks)
        payload = b"".join(chunks)
        del chunks  # the NDJSON once, not twice, while zstd compresses it
        compressor = _zstd().ZstdCompressor(
            level=ZSTD_LEVEL, write_checksum=True, write_content_size=True
        )
        data: bytes = compressor.compress(payload)
        return data


def decode_part(data: bytes, compression: str) -> list[bytes]:
    """The lines of a part (without newlines); ``ValueError`` if ``data`` is not a valid part."""
    if compression == "gzip":
        try:
            payload = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"not a valid gzip part: {exc}") from None
    elif compression == "zstd":
        zstd = _zstd()
        decompressor = zstd.ZstdDecompressor().decompressobj()
        try:
            payload = decompressor.decompress(data)
        except zstd.ZstdError as exc:
            raise ValueError(f"not a valid zstd part: {exc}") from None
        if not decompressor.eof or decompressor.unused_data:
            raise ValueError("not a valid zstd part: truncated or trailing data")
    else:
        raise ConfigError(f"MESH_COMPRESSION: {compression!r} is not one of gzip, zstd")
    if not payload:
        return []
    if not payload.endswith(b"\n"):
        raise ValueError("part does not end with a newline: truncated")
    return payload[:-1].split(b"\n")


def part_lines(data: bytes, compression: str) -> Iterator[bytes]:
    """The lines of a part, as ``decode_part`` gives them, decompressed a megabyte at a time.

    For a reader that looks at each line once: it holds about a megabyte of the part's NDJSON at
    a time, not the whole of it (up to 32 MiB) plus its lines. A part ``decode_part`` refuses
    raises the same ``ValueError``, but only once the iteration reaches the fault: the lines
    before it have been yielded, so a caller that must not use a damaged part's lines keeps
    what it takes from them until the iteration has ended.
    """
    pending = b""
    for chunk in _payload_chunks(data, compression):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        raise ValueError("part does not end with a newline: truncated")


def _payload_chunks(data: bytes, compression: str) -> Iterator[bytes]:
    """A part's NDJSON in pieces of at most ``_READ_BYTES`` (zstd: what ``_ZSTD_INPUT_BYTES`` of
    input decompress to), refused as ``decode_part`` refuses it."""
    if compression == "gzip":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as stream:
                while chunk := stream.read(_READ_BYTES):
                    yield chunk
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"not a valid gzip part: {exc}") from None
    elif compression == "zstd":
        zstd = _zstd()
        decompressor = zstd.ZstdDecompressor().decompressobj()
        view, start = memoryview(data), 0
        while start < len(view) and not decompressor.eof:
            try:
                chunk = decompressor.decompress(view[start : start + _ZSTD_INPUT_BYTES])
            except zstd.ZstdError as exc:
                raise ValueError(f"not a valid zstd part: {exc}") from None
            start += _ZSTD_INPUT_BYTES
            if chunk:
                yield chunk
        if not decompressor.eof or decompressor.unused_data or start < len(view):
            raise ValueError("not a valid zstd part: truncated or trailing data")
    else:
        raise ConfigError(f"MESH_COMPRESSION: {compression!r} is not one of gzip, zstd")


def _zstd() -> ModuleType:
    try:
        import zstandard
    except ImportError:
        raise ConfigError(_ZSTD_MISSING) from None
    return zstandard
