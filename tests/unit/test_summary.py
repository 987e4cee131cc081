"""Run summary: the example reason of each top rule comes from the run's dead-letter parts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.lake import encode
from producer.lake.encode import encode_part, json_line
from producer.lake.keys import dlq_key
from producer.lake.store import FileStore
from producer.reports import DomainReport
from producer.summary import summarize
from producer.windows import Window

WINDOW = Window(datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC))


def _dead(rule: str, path: str) -> bytes:
    return json_line({"errors": [{"rule": rule, "path": path, "message": f"{rule} failed"}]})


async def _top_rules(store: FileStore, rules: Counter[str]) -> dict[str, str]:
    report = DomainReport("telephony", windows=1, rules=rules)
    report.recent.append(WINDOW)
    report.first_seen.update(dict.fromkeys(rules, WINDOW))
    [summary] = await summarize(
        [report], stores={"telephony": store}, prefixes={"telephony": "lake"}, compression="gzip"
    )
    return {rule.rule: rule.example for rule in summary.top_rules}


async def test_each_rule_takes_its_first_example_across_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first dead letter of each rule, in part order, even with lines cut by reads."""
    monkeypatch.setattr(encode, "_READ_BYTES", 16)
    store = FileStore(tmp_path)
    first = [_dead("enum", "$.a"), b"not json", _dead("enum", "$.b"), _dead("pattern", "$.c")]
    second = [_dead("pattern", "$.d"), _dead("required", "$.e")]
    for part, lines in enumerate([first, second]):
        await store.put(dlq_key("lake", "telephony", WINDOW, part), encode_part(lines, "gzip"))
    rules = Counter({"enum": 3, "pattern": 2, "required": 1})
    assert await _top_rules(store, rules) == {
        "enum": "$.a: enum failed",
        "pattern": "$.c: pattern failed",
        "required": "$.e: required failed",
    }


async def test_a_damaged_part_gives_no_example(tmp_path: Path) -> None:
    """A part cut short gives none of its examples, even those before the cut."""
    store = FileStore(tmp_path)
    lines = [_dead("enum", "$.a"), *(_dead("pattern", f"$.{n}") for n in range(2000))]
    data = encode_part(lines, "gzip")
    await store.put(dlq_key("lake", "telephony", WINDOW, 0), data[: len(data) - 20])
    assert await _top_rules(store, Counter({"enum": 1})) == {"enum": ""}
