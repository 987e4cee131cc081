"""The three outcomes a hostile source may lead to, checked on the lake a run left behind.

``LANDS_EXACTLY_ONCE``: exit 0; every conversation of the exported windows exactly once across
data and DLQ; the checkpoint at the source's watermark; ``lake audit`` consistent.
``DEAD_LETTERS``: the same, and the named records are in the DLQ with the named rule.
``FAILS_WINDOW``: exit non-zero naming the domain; the checkpoint at the failed window's start
(absent if it is the first); the windows before it exactly once; nothing of the failed window or
later committed; ``lake audit`` consistent. Never: exit 0 with a record missing or doubled.
Reads the lake through the product's store (either backend); never writes to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import orjson

from producer.lake.encode import decode_part
from producer.lake.keys import checkpoint_key, parse_part_key
from producer.lake.store import ObjectStore
from producer.ops.audit import AuditReport
from tests.fixtures.lake import assert_each_once, lake_objects
from tests.fixtures.product import audit

__all__ = [
    "PREFIX",
    "Expected",
    "LakeContent",
    "Outcome",
    "check_outcome",
    "read_product",
]

PREFIX = "telephony-cdr-export"


class Outcome(Enum):
    """What a case must end in."""

    LANDS_EXACTLY_ONCE = "lands exactly once"
    DEAD_LETTERS = "dead-letters"
    FAILS_WINDOW = "fails the window"


@dataclass(frozen=True, slots=True)
class Expected:
    """An outcome; for ``FAILS_WINDOW`` the index of the window that must not be committed."""

    outcome: Outcome
    failed_window: int = 1


@dataclass
class LakeContent:
    """The telephony product as the lake holds it: ids per window label, DLQ rules by name."""

    checkpoint: dict[str, Any] | None = None
    landed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    dead: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rules: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @property
    def watermark(self) -> datetime | None:
        if self.checkpoint is None:
            return None
        return datetime.fromisoformat(self.checkpoint["watermark"])

    def ids(self, labels: set[str] | None = None) -> tuple[list[str], list[str]]:
        """Landed and dead-lettered ids of the windows ``labels`` (all when None)."""
        landed = [i for label, ids in self.landed.items() if _in(label, labels) for i in ids]
        dead = [i for label, ids in self.dead.items() if _in(label, labels) for i in ids]
        return landed, dead


def _in(label: str, labels: set[str] | None) -> bool:
    return labels is None or label in labels


def _dead_name(source: Any) -> str:
    """A dead letter's record by name: its conversationId, else the test's tag, else its repr."""
    if isinstance(source, dict):
        for name in ("conversationId", "hostileTag"):
            if isinstance(source.get(name), str):
                return str(source[name])
    return repr(source)[:80]


def decode_product(objects: Mapping[str, bytes], prefix: str = PREFIX) -> LakeContent:
    """Every data and DLQ line under ``prefix``, by window; the checkpoint."""
    content = LakeContent()
    raw = objects.get(checkpoint_key(prefix))
    if raw is not None:
        content.checkpoint = orjson.loads(raw)
    for key, data in sorted(objects.items()):
        if key == checkpoint_key(prefix) or not key.startswith(prefix + "/"):
            continue
        part = parse_part_key(key)
        label = part.window.label
        for line in decode_part(data, part.compression):
            document = orjson.loads(line)
            if part.kind == "data":
                content.landed[label].append(document["data"]["interaction_id"])
            else:
                name = _dead_name(document.get("source"))
                content.dead[label].append(name)
                content.rules[name].update(error["rule"] for error in document["errors"])
    return content


async def read_product(store: ObjectStore) -> tuple[LakeContent, AuditReport]:
    """The product as decoded here, and ``lake audit``'s report of it."""
    content = decode_product(await lake_objects(store, PREFIX))
    report = await audit(store, PREFIX)
    return content, report


def check_outcome(
    expected: Expected,
    *,
    exit_code: int | None,
    output: str,
    content: LakeContent,
    report: AuditReport,
    truth_by_window: list[tuple[str, set[str]]],
    watermark: datetime,
    extras: Mapping[str, str],
) -> None:
    """Assert ``expected`` of a finished run (``exit_code`` None: it did not end in time).

    ``truth_by_window``: (window label, honest ids) per exported window in order; ``extras``:
    records the source added, by name, with the DLQ rule each must carry.
    """
    assert exit_code is not None, "the run did not end: the source stalled it"
    assert report.consistent, f"lake audit: {[str(d) for d in report.discrepancies]}"
    if expected.outcome is Outcome.FAILS_WINDOW:
        _check_failed(
            expected.failed_window,
            exit_code=exit_code,
            output=output,
            content=content,
            report=report,
            truth_by_window=truth_by_window,
        )
        return
    truth = set().union(*(ids for _, ids in truth_by_window)) | set(extras)
    landed, dead = content.ids()
    assert exit_code == 0, f"exit {exit_code}, expected 0:\n{output[-3000:]}"
    assert_each_once(landed, dead, truth, context=expected.outcome.value)
    assert content.watermark == watermark, f"checkpoint at {content.watermark}, not {watermark}"
    for name, rule in extras.items():
        assert name in dead, f"{name} is not in the DLQ"
        assert rule in content.rules[name], f"{name} dead-lettered with {content.rules[name]}"
    if expected.outcome is Outcome.DEAD_LETTERS:
        assert extras, "a DEAD_LETTERS case names the records it dead-letters"


def _check_failed(
    failed: int,
    *,
    exit_code: int,
    output: str,
    content: LakeContent,
    report: AuditReport,
    truth_by_window: list[tuple[str, set[str]]],
) -> None:
    assert exit_code != 0, "exit 0 although the window could not be read whole"
    assert "telephony" in output, f"the failure does not name the domain:\n{output[-2000:]}"
    before = truth_by_window[:failed]
    failed_label = truth_by_window[failed][0]
    if failed == 0:
        assert content.checkpoint is None, "a checkpoint although the first window failed"
    else:
        expected_end = datetime.strptime(before[-1][0].rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ")
        assert content.watermark is not None, "no checkpoint: the windows before were lost"
        assert content.watermark.replace(tzinfo=None) == expected_end, (
            f"checkpoint at {content.watermark}: the failed window {failed_label} moved it"
        )
    labels = {label for label, _ in before}
    landed, dead = content.ids(labels)
    assert_each_once(landed, dead, set().union(*(ids for _, ids in before)), context="committed")
    for counted in report.windows:
        if counted.window.label == failed_label or counted.window.label not in labels:
            assert not counted.committed, f"{counted.window.label} is committed"
