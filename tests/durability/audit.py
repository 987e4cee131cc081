"""Durability harness, audit: read a lake back without our stores and check it is exactly once.

``read_file_lake`` and ``read_s3_lake`` return a lake's objects (hidden files apart);
``audit_lake`` decodes every part of the telephony product; ``assert_exactly_once`` compares it
with the simulator's ground truth (``conversation_ids`` of ``tests/fixtures/simulator.py``) and
with the checkpoint. Pure reading: it never writes to a lake.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from producer.lake.encode import decode_part
from producer.lake.keys import checkpoint_key, parse_part_key
from tests.fixtures.lake import assert_each_once
from tests.fixtures.s3 import read_lake

__all__ = [
    "PREFIX",
    "LakeAudit",
    "assert_exactly_once",
    "audit_lake",
    "read_file_lake",
    "read_s3_lake",
]

PREFIX = "telephony-cdr-export"


def read_file_lake(root: Path) -> tuple[dict[str, bytes], list[str]]:
    """Every visible object under ``root`` as ``{key: bytes}``, and the hidden files apart.

    Hidden files (a leading ``.``) are what a killed writer may leave: readers skip them.
    """
    objects: dict[str, bytes] = {}
    hidden: list[str] = []
    if not root.exists():
        return objects, hidden
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(root).as_posix()
        if any(segment.startswith(".") for segment in key.split("/")):
            hidden.append(key)
        else:
            objects[key] = path.read_bytes()
    return objects, hidden


def read_s3_lake(endpoint: str, bucket: str, root: str = "") -> dict[str, bytes]:
    """The objects of ``bucket`` under ``root`` (keys relative to it), read with boto3."""
    cut = f"{root.strip('/')}/" if root.strip("/") else ""
    return {
        key[len(cut) :]: data
        for key, data in read_lake(endpoint, bucket).items()
        if key.startswith(cut)
    }


@dataclass
class LakeAudit:
    """What a lake holds for the telephony product, decoded part by part."""

    landed: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    parts: int = 0
    lines_by_window: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    part_numbers: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    ids_by_window: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def watermark(self) -> datetime | None:
        """The checkpoint's watermark, if there is a checkpoint."""
        if self.checkpoint is None:
            return None
        return datetime.fromisoformat(self.checkpoint["watermark"])


def audit_lake(objects: Mapping[str, bytes], prefix: str = PREFIX) -> LakeAudit:
    """Decode every data and DLQ part under ``prefix``; any other object fails the audit.

    ``_state/`` (the checkpoint, the writer lease) is the producer's own state, not data.
    """
    audit = LakeAudit()
    checkpoint = objects.get(checkpoint_key(prefix))
    if checkpoint is not None:
        audit.checkpoint = orjson.loads(checkpoint)
    numbers: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, data in sorted(objects.items()):
        if key == checkpoint_key(prefix) or key.startswith(f"{prefix}/_state/"):
            continue
        assert key.startswith(prefix + "/"), f"an object outside the data product: {key}"
        part = parse_part_key(key)  # ValueError: an object the producer did not name
        label = part.window.label
        numbers[(part.kind, label)].append(part.part)
        audit.parts += 1
        for line in decode_part(data, part.compression):
            document = orjson.loads(line)
            if part.kind == "data":
                record_id = document["data"]["interaction_id"]
                audit.landed.append(record_id)
            else:
                record_id = document["source"]["conversationId"]
                audit.dead.append(record_id)
            audit.ids_by_window[label].append(record_id)
            audit.lines_by_window[label][part.kind] += 1
    audit.part_numbers = {kind_label: sorted(parts) for kind_label, parts in numbers.items()}
    return audit


def assert_exactly_once(audit: LakeAudit, truth: set[str], *, context: str = "") -> None:
    """Every conversation of ``truth`` once across data and DLQ; checkpoint equal to the lake.

    Also: each window's parts are numbered 0..n-1 with no gap or leftover, and the counts the
    checkpoint keeps per recent window equal that window's lines.
    """
    where = f" [{context}]" if context else ""
    assert_each_once(audit.landed, audit.dead, truth, context=context)
    for (kind, label), parts in audit.part_numbers.items():
        assert parts == list(range(len(parts))), f"{kind} parts of {label}: {parts}{where}"
    checkpoint = audit.checkpoint
    assert checkpoint is not None, f"no checkpoint{where}"
    totals = checkpoint["totals"]
    lake = {"fetched": len(truth), "landed": len(audit.landed), "dead_lettered": len(audit.dead)}
    assert totals == lake, f"checkpoint totals {totals} != lake {lake}{where}"
    for label, recent in checkpoint.get("recent_windows", {}).items():
        lines = audit.lines_by_window.get(label, Counter())
        counts = recent["counts"]
        assert (counts["landed"], counts["dead_lettered"]) == (lines["data"], lines["dlq"]), (
            f"checkpoint counts of {label} {counts} != its lines {dict(lines)}{where}"
        )
