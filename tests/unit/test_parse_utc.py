"""``parse_utc``: ISO-8601 to aware UTC, and the same answer when a string is read again.

The router and the mapper read a record's time from the same string object; the second read
returns the first's result. Whatever was read before, each string gets its own answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from producer.domains.mapped import parse_utc


def test_timestamps_become_aware_utc() -> None:
    assert parse_utc("2025-03-10T09:00:00.123Z") == datetime(2025, 3, 10, 9, 0, 0, 123000, UTC)
    assert parse_utc("2025-03-10T10:00:00+01:00") == datetime(2025, 3, 10, 9, tzinfo=UTC)
    assert parse_utc("2025-03-10T09:00:00") == datetime(2025, 3, 10, 9, tzinfo=UTC)
    assert parse_utc("2025-03-10T09:00:00+01:00").tzinfo is UTC  # type: ignore[union-attr]
    for odd in ("", "yesterday", "2025-13-01T00:00:00Z", None, 17, ["2025-03-10"]):
        assert parse_utc(odd) is None


def test_a_string_read_again_or_after_another_gets_its_own_answer() -> None:
    """Alternating strings, equal strings that are other objects, and an unparseable one in
    between: each read answers for the string it is given."""
    east = timezone(timedelta(hours=2))
    texts = ["2025-03-10T09:00:00Z", "nope", "2025-03-10T11:00:00+02:00", "2025-03-10T09:00:01Z"]
    expected = [
        datetime(2025, 3, 10, 9, tzinfo=UTC),
        None,
        datetime(2025, 3, 10, 11, tzinfo=east),
        datetime(2025, 3, 10, 9, 0, 1, tzinfo=UTC),
    ]
    for _ in range(2):
        for text, want in zip(texts, expected, strict=True):
            assert parse_utc(text) == want
            assert parse_utc(text) == want  # the same object again
            copy = "".join(list(text))  # an equal string, another object
            assert copy is not text
            assert parse_utc(copy) == want
    assert parse_utc(texts[1]) is None
    assert parse_utc(None) is None  # not a string, after a string that did not parse
