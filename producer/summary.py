"""What a run amounted to, per domain, in words a person acts on (demo and ``run --once``).

Owns ``summarize``: from each domain's ``DomainReport`` and the lake (its checkpoint, and the dead
letters of the windows this run landed, for one example reason per top rule) it builds a
``DomainSummary``: fetched = landed + dead-lettered, the top rejection rules each with an example,
where the data and the dead letters are, or "up to date" with what earlier runs landed.
``render_text`` lays it out for a terminal, with what to do next; ``render_json`` is one JSON
line for log collectors, the same content (rules with their example) and the run's exit code.
Reads the lake only; never writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from producer.checkpoint import CheckpointStore, Counts
from producer.errors import StoreError
from producer.lake.encode import part_lines
from producer.lake.keys import window_part_prefix
from producer.lake.store import ObjectStore, open_store
from producer.reports import DomainReport
from producer.settings import Settings
from producer.telemetry.metrics import DomainMetrics, Metrics

__all__ = [
    "DomainSummary",
    "RuleExample",
    "render_json",
    "render_text",
    "run_summary",
    "summarize",
]

_TOP_RULES = 3
_MAX_PARTS_READ = 8


@dataclass(frozen=True, slots=True)
class RuleExample:
    """A rejection rule, how many records it rejected in this run, and one reason it gave."""

    rule: str
    count: int
    example: str


@dataclass(frozen=True, slots=True)
class DomainSummary:
    """One domain's run, ready to print."""

    domain: str
    windows: int
    counts: Counts
    watermark: datetime | None
    data_path: str
    dlq_path: str
    top_rules: tuple[RuleExample, ...] = ()
    earlier: Counts | None = None
    error: str | None = None
    versions: tuple[str, ...] = field(default=())

    @property
    def up_to_date(self) -> bool:
        """Nothing was due in this run, and nothing failed."""
        return self.windows == 0 and self.error is None


async def summarize(
    reports: Iterable[DomainReport],
    *,
    stores: Mapping[str, ObjectStore],
    prefixes: Mapping[str, str],
    compression: str,
) -> list[DomainSummary]:
    """Each domain's summary; ``stores``/``prefixes`` are the domains' output ports."""
    summaries = []
    for report in reports:
        store, prefix = stores[report.domain], prefixes[report.domain]
        try:
            checkpoints = CheckpointStore(
                store, prefix=prefix, domain=report.domain, metrics=_offline(report.domain)
            )
            checkpoint, _ = await checkpoints.load()
        except StoreError:
            checkpoint = None
        versions = tuple(checkpoint.schema_version.split(",")) if checkpoint else ()
        major = versions[0].split(".")[0] if versions else "1"
        examples = await _examples(store, prefix, report, compression, int(major))
        summaries.append(
            DomainSummary(
                domain=report.domain,
                windows=report.windows,
                counts=report.counts,
                watermark=report.watermark or (checkpoint.watermark if checkpoint else None),
                data_path=f"{store.description}/{prefix}/v{major}/",
                dlq_path=f"{store.description}/{prefix}/failed-records/",
                top_rules=tuple(
                    RuleExample(rule, count, examples.get(rule, ""))
                    for rule, count in report.rules.most_common(_TOP_RULES)
                ),
                earlier=checkpoint.totals if checkpoint and report.windows == 0 else None,
                error=report.error,
                versions=versions,
            )
        )
    return summaries


async def _examples(
    store: ObjectStore, prefix: str, report: DomainReport, compression: str, major: int
) -> dict[str, str]:
    """One ``path: message`` per top rule, from the dead letters of the window where this run
    first met the rule, then of its last windows."""
    wanted = {rule for rule, _ in report.rules.most_common(_TOP_RULES)}
    found: dict[str, str] = {}
    read = 0
    first = [report.first_seen[rule] for rule in sorted(wanted) if rule in report.first_seen]
    for window in dict.fromkeys([*first, *reversed(report.recent)]):
        if not wanted - found.keys() or read >= _MAX_PARTS_READ:
            break
        part_prefix = window_part_prefix("dlq", prefix, report.domain, window, major)
        try:
            keys = await store.list_keys(part_prefix)
            for key in keys[: _MAX_PARTS_READ - read]:
                if not wanted - found.keys():
                    break  # a later part could only repeat rules that have their example
                read += 1
                stored = await store.get(key)
                if stored is not None:
                    found |= _examples_in(stored.data, compression, wanted - found.keys())
        except (StoreError, ValueError):
            continue  # an example is a courtesy: the counts above are the checkpoint's
    return found


def _examples_in(data: bytes, compression: str, wanted: set[str]) -> dict[str, str]:
    """The first example of each ``wanted`` rule in one DLQ part.

    The part is decompressed a little at a time (a DLQ part holds up to 32 MiB of lines: whole,
    with its lines, it was the largest thing a ``run --once`` ever held), and read to its end
    even once every rule has its example, so a damaged part still raises ``ValueError`` and
    gives none.
    """
    found: dict[str, str] = {}
    for line in part_lines(data, compression):
        if len(found) == len(wanted):
            continue
        try:
            errors = orjson.loads(line).get("errors") or []
        except (orjson.JSONDecodeError, AttributeError):
            continue
        for error in errors:
            rule = error.get("rule") if isinstance(error, dict) else None
            if rule in wanted and rule not in found:
                found[rule] = f"{error.get('path', '$')}: {error.get('message', '')}"
    return found


def render_text(
    summaries: Sequence[DomainSummary],
    *,
    next_steps: Sequence[str] = (),
    exit_code: int | None = None,
) -> str:
    """The summary for a person: a block per domain, then what to do next, then (given) the
    run's exit code as its last line."""
    out: list[str] = []
    for item in summaries:
        counts = item.counts
        if item.error is not None:
            out.append(f"{item.domain}: FAILED: {item.error}")
        elif item.up_to_date:
            watermark = _instant(item.watermark)
            earlier = item.earlier
            landed = (
                f"; earlier runs landed {earlier.landed} and dead-lettered "
                f"{earlier.dead_lettered} of {earlier.fetched} records"
                if earlier is not None
                else ""
            )
            out.append(f"{item.domain}: up to date (watermark {watermark}){landed}")
        else:
            out.append(
                f"{item.domain}: {item.windows} window{'' if item.windows == 1 else 's'} landed, "
                f"fetched {counts.fetched} = landed {counts.landed} + dead-lettered "
                f"{counts.dead_lettered} (watermark {_instant(item.watermark)})"
            )
            for rule in item.top_rules:
                example = f" e.g. {rule.example}" if rule.example else ""
                out.append(f"    rejected by {rule.rule}: {rule.count}{example}")
        out.append(f"    data:         {item.data_path}")
        out.append(f"    dead letters: {item.dlq_path}")
    if next_steps:
        out.append("")
        out.append("Next:")
        out.extend(f"  {step}" for step in next_steps)
    if exit_code is not None:
        out.append(f"exit code {exit_code}")
    return "\n".join(out)


def render_json(summaries: Sequence[DomainSummary], *, exit_code: int) -> bytes:
    """One JSON line: ``{"event": "run_summary", "exit_code": 0, "domains": {...}}``; each
    domain's ``top_rules`` is a list of ``{"rule", "count", "example"}``, most frequent first."""
    domains: dict[str, Any] = {}
    for item in summaries:
        domains[item.domain] = {
            "status": "failed" if item.error else ("up_to_date" if item.up_to_date else "landed"),
            "windows": item.windows,
            **item.counts.as_dict(),
            "watermark": _instant(item.watermark),
            "top_rules": [
                {"rule": rule.rule, "count": rule.count, "example": rule.example}
                for rule in item.top_rules
            ],
            "data": item.data_path,
            "dead_letters": item.dlq_path,
            "error": item.error,
        }
    return orjson.dumps({"event": "run_summary", "exit_code": exit_code, "domains": domains})


async def run_summary(settings: Settings, reports: Iterable[DomainReport]) -> list[DomainSummary]:
    """``summarize`` over each domain's own output port (lake, bucket, prefix)."""
    reports = list(reports)
    async with AsyncExitStack() as stack:
        stores: dict[str, ObjectStore] = {}
        for report in reports:
            bucket = settings.domain(report.domain).bucket
            stores[report.domain] = await stack.enter_async_context(
                open_store(settings.lake, bucket)
            )
        return await summarize(
            reports,
            stores=stores,
            prefixes={r.domain: settings.domain(r.domain).prefix for r in reports},
            compression=settings.compression,
        )


def _offline(domain: str) -> DomainMetrics:
    """Metrics nobody scrapes: reading a checkpoint for a summary is not an export."""
    return Metrics(CollectorRegistry()).for_domain(domain)


def _instant(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "none"
