"""The performance benchmark's reference chains do the producer's work, no more and no less.

The benchmark divides the producer's CPU by the floor chain's: that ratio means something only
if both route the same records the same way. Built from the simulator's records in-process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from producer.contracts.registry import load_domain_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains import domain_spec
from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.timeline import epoch_ms
from producer.routing import Route, WindowRouter
from producer.settings import default_contracts_dir
from producer.windows import Window
from tests.benchmarks.chains import (
    WindowPages,
    floor_chain,
    load_windows,
    naive_chain,
    save_windows,
)
from tests.benchmarks.source import platform_time

_START = datetime(2025, 3, 10, 9, tzinfo=UTC)
_WINDOWS = [
    Window(_START + timedelta(minutes=15 * i), _START + timedelta(minutes=15 * (i + 1)))
    for i in range(2)
]
_AVAILABLE = epoch_ms(_START + timedelta(hours=2))
_CONTRACT = select_contract(
    load_domain_contracts(default_contracts_dir(), "telephony"), "telephony", None
)


def _job_pages(window: Window) -> list[bytes]:
    """What a job over ``window`` returns (every overlapping conversation), 40 a page."""
    chosen = data.select(7, 600.0, epoch_ms(window.start), epoch_ms(window.end), _AVAILABLE)
    records = [data.record(arrival, _AVAILABLE) for arrival in chosen]
    return [
        orjson.dumps({"conversations": records[i : i + 40]}) for i in range(0, len(records), 40)
    ]


def _sample() -> tuple[list[WindowPages], list[tuple[int, int, int]]]:
    """The windows' pages, and the producer's (parsed, landed, dead-lettered) per window."""
    windows, routed = [], []
    spec, validator = domain_spec("telephony"), Validator(_CONTRACT)
    for window in _WINDOWS:
        pages = _job_pages(window)
        windows.append(WindowPages(platform_time(window.start), platform_time(window.end), pages))
        router = WindowRouter(spec=spec, validators=[validator], window=window, rejected_at=_START)
        routes = [
            router.route(source).route
            for page in pages
            for source in orjson.loads(page)["conversations"]
        ]
        routed.append((len(routes), routes.count(Route.LANDED), routes.count(Route.DEAD_LETTERED)))
    return windows, routed


def test_chains_route_like_the_producer(tmp_path: Path) -> None:
    """Floor and naive chains land and dead-letter exactly the records the producer would."""
    windows, routed = _sample()
    save_windows(tmp_path, windows)
    assert load_windows(tmp_path) == windows
    parsed, landed, dead = (sum(column) for column in zip(*routed, strict=True))
    assert landed > 0
    assert dead > 0  # the sample holds rejections, so the DLQ path is compared too
    for result in (
        floor_chain(windows, _CONTRACT),
        floor_chain(windows, _CONTRACT, "zstd"),
        naive_chain(windows, _CONTRACT),
        naive_chain(windows, _CONTRACT, validator_once=True),
    ):
        assert (result.parsed, result.landed, result.dead_lettered) == (parsed, landed, dead)
        assert result.exported == landed + dead
        assert result.compressed_bytes > 0
