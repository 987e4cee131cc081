"""The CXone domains as the worker will run them: spec -> extractor -> window filter, repeats
dropped -> mapper -> contract validator, over one simulated day on real sockets.

What lands and what is rejected (by rule) must match the simulator's deterministic data: each
record of the day once, every deliberate reject dead-lettered with its rule, nothing else.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from producer.clock import SystemClock
from producer.contracts.registry import load_domain_contracts, select_contract
from producer.contracts.validate import Validator
from producer.platforms.nice.registry import NiceOptions, NiceSpec, nice_spec
from producer.platforms.nice.simulator import RunningNiceSimulator, data
from producer.windows import Window
from tests.nice.conftest import INTERVAL, Connect

CONTRACTS = Path(__file__).resolve().parents[2] / "config" / "contracts"
DAY = datetime(2025, 3, 11, tzinfo=UTC)


async def run(
    spec: NiceSpec, extractor: Any, windows: list[Window]
) -> tuple[list[dict[str, Any]], Counter[str]]:
    validator = Validator(
        select_contract(load_domain_contracts(CONTRACTS, spec.name), spec.name, None)
    )
    landed: list[dict[str, Any]] = []
    rejected: Counter[str] = Counter()
    seen: set[str] = set()
    for window in windows:
        async for page in extractor.fetch(window):
            for source in page:
                instant = spec.feed.record_time(source)
                identity = spec.feed.record_id(source)
                if instant is None or not window.contains(instant):
                    continue
                if identity is not None and identity in seen:
                    continue
                if identity is not None:
                    seen.add(identity)
                mapped = spec.feed.map_record(source)
                issues = list(mapped.issues)
                if mapped.ok and mapped.record is not None:
                    issues = validator.check(mapped.record)
                if issues:
                    rejected[issues[0].rule] += 1
                else:
                    assert mapped.record is not None
                    landed.append(mapped.record)
    return landed, rejected


def day_contacts(running: RunningNiceSimulator) -> list[data.Contact]:
    config = running.sim.config
    end = DAY + timedelta(days=1)
    items = [
        data.contact(config.epoch, config.contacts_per_hour, config.seed, index)
        for index in data.indexes_between(config.epoch, config.contacts_per_hour, DAY, end)
    ]
    return [item for item in items if DAY <= item.start < end]


async def test_a_day_of_telephony_lands_each_contact_once_or_dead_letters_it(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    spec = nice_spec("telephony")
    windows = [Window(DAY + timedelta(hours=h), DAY + timedelta(hours=h + 1)) for h in range(24)]
    async with connect() as clients:
        extractor = spec.make_extractor(
            clients, NiceOptions(page_size=50, completion_lag_seconds=3600), SystemClock()
        )
        landed, rejected = await run(spec, extractor, windows)
    contacts = day_contacts(nice_sim)
    assert len(landed) + sum(rejected.values()) == len(contacts)
    assert len({record["interaction_id"] for record in landed}) == len(landed)
    assert set(rejected) == {"enum", "pattern", "no_duration"}
    assert rejected["no_duration"] == sum(
        1 for item in contacts if "totalDurationSeconds" not in item.body
    )
    assert rejected["enum"] == sum(  # an e-mail without a duration is rejected as the latter
        1
        for item in contacts
        if item.body["mediaTypeId"] == 1 and "totalDurationSeconds" in item.body
    )


async def test_a_day_of_quality_lands_each_workflow_once_or_dead_letters_it(
    nice_sim: RunningNiceSimulator, connect: Connect
) -> None:
    spec = nice_spec("quality")
    window = Window(DAY, DAY + timedelta(days=1))
    async with connect(domain="quality") as clients:
        extractor = spec.make_extractor(
            clients, NiceOptions(extraction_interval_seconds=INTERVAL), SystemClock()
        )
        landed, rejected = await run(spec, extractor, [window])
    assert landed
    assert set(rejected) == {"status_unmapped", "no_contact", "bad_number"}
    assert all(record["conversation_id"] and record["status"] for record in landed)
    assert [c.status for c in nice_sim.sim.extraction_calls].count(403) == 0
