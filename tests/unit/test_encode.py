"""Part encoding: NDJSON + gzip/zstd, round-tripping and byte-for-byte deterministic."""

from __future__ import annotations

import gzip
import hashlib
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.errors import ConfigError
from producer.lake import encode
from producer.lake.encode import decode_part, encode_part, json_line, part_lines, require_codec

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_lines = st.lists(_json.map(json_line), max_size=30)
LINES = [
    json_line({"x-schema-version": "1.0", "domain": "telephony", "data": {"n": n}})
    for n in range(50)
]


@settings(max_examples=50)
@given(lines=_lines, compression=st.sampled_from(["gzip", "zstd"]))
def test_round_trip(lines: list[bytes], compression: str) -> None:
    """decode_part(encode_part(lines)) gives the lines back, in order, for both codecs."""
    assert decode_part(encode_part(lines, compression), compression) == lines


@settings(max_examples=50)
@given(lines=_lines, compression=st.sampled_from(["gzip", "zstd"]))
def test_part_lines_are_decode_part(lines: list[bytes], compression: str) -> None:
    """part_lines yields the very lines decode_part returns, for both codecs."""
    assert list(part_lines(encode_part(lines, compression), compression)) == lines


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_part_lines_across_reads(compression: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines cut by a read boundary come out whole: reads of a few bytes give the same lines."""
    monkeypatch.setattr(encode, "_READ_BYTES", 7)
    monkeypatch.setattr(encode, "_ZSTD_INPUT_BYTES", 5)
    assert list(part_lines(encode_part(LINES, compression), compression)) == LINES


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_part_lines_refuse_what_decode_part_refuses(compression: str) -> None:
    """Garbage, a cut-off part, trailing bytes or a last line without its newline raise
    ValueError by the end of the iteration, as decode_part does."""
    data = encode_part(LINES, compression)
    if compression == "gzip":
        unterminated = gzip.compress(b"{}\n{}", mtime=0)
    else:
        import zstandard

        unterminated = zstandard.ZstdCompressor().compress(b"{}\n{}")
    for bad in (b"definitely not compressed", data[: len(data) // 2], data + b"x", unterminated):
        with pytest.raises(ValueError, match=r"not a valid|truncated"):
            decode_part(bad, compression)
        with pytest.raises(ValueError, match=r"not a valid|truncated"):
            list(part_lines(bad, compression))
    assert list(part_lines(encode_part([], compression), compression)) == []


@settings(max_examples=30)
@given(lines=_lines)
def test_lines_are_the_json_documents(lines: list[bytes]) -> None:
    """Each stored line is one complete JSON document (what every NDJSON reader expects)."""
    payload = gzip.decompress(encode_part(lines, "gzip"))
    assert payload == b"".join(line + b"\n" for line in lines)
    for line in payload.splitlines():
        orjson.loads(line)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_same_lines_give_identical_bytes(compression: str) -> None:
    """Deterministic output: encoding the same lines twice gives the same bytes (and MD5/ETag)."""
    first = encode_part(LINES, compression)
    second = encode_part(list(LINES), compression)
    assert first == second
    assert (
        hashlib.md5(first, usedforsecurity=False).digest()
        == hashlib.md5(second, usedforsecurity=False).digest()
    )


def test_gzip_header_has_no_time_and_no_name() -> None:
    """The gzip header carries mtime 0 and no file name, so bytes do not depend on when/where."""
    data = encode_part(LINES, "gzip")
    assert data[:3] == b"\x1f\x8b\x08"
    flags = data[3]
    assert flags & 0x08 == 0  # FNAME
    assert data[4:8] == b"\x00\x00\x00\x00"  # MTIME


def test_zstd_output_is_a_standard_frame() -> None:
    """zstd parts are plain zstd frames that the reference library reads back."""
    import zstandard

    data = encode_part(LINES, "zstd")
    assert data[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.ZstdDecompressor().decompress(data).count(b"\n") == len(LINES)


def test_empty_part_round_trips() -> None:
    """No lines encode to a valid, empty part (the writer never stores one, audits may)."""
    assert decode_part(encode_part([], "gzip"), "gzip") == []
    assert decode_part(encode_part([], "zstd"), "zstd") == []


def test_a_line_with_a_newline_is_refused() -> None:
    """A line holding a newline would become two records for every reader: refused."""
    with pytest.raises(ValueError, match="line 1 contains a newline"):
        encode_part([b"{}", b'{"a":\n1}'], "gzip")


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_corrupt_or_truncated_parts_are_refused(compression: str) -> None:
    """decode_part raises ValueError for garbage or a cut-off object instead of losing lines."""
    data = encode_part(LINES, compression)
    with pytest.raises(ValueError, match="not a valid"):
        decode_part(b"definitely not compressed", compression)
    with pytest.raises(ValueError, match=r"not a valid|truncated"):
        decode_part(data[: len(data) // 2], compression)


def test_unknown_compression_is_a_config_error() -> None:
    """An unknown MESH_COMPRESSION is a configuration error (exit 2), named as such."""
    with pytest.raises(ConfigError, match="MESH_COMPRESSION"):
        require_codec("brotli")
    with pytest.raises(ConfigError, match="MESH_COMPRESSION"):
        encode_part(LINES, "brotli")
    require_codec("gzip")
    require_codec("zstd")


def test_zstd_without_its_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the optional 'zstandard' package, asking for zstd fails early and clearly."""
    monkeypatch.setitem(sys.modules, "zstandard", None)  # makes `import zstandard` fail
    with pytest.raises(ConfigError, match="zstd needs the 'zstandard' package"):
        require_codec("zstd")
    with pytest.raises(ConfigError, match="zstandard"):
        encode_part(LINES, "zstd")
    assert decode_part(encode_part(LINES, "gzip"), "gzip") == LINES
