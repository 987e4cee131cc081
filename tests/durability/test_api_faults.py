"""Platform API faults under the daemon: retried, or the window is re-run, never skipped.

The daemon runs in-process (not ``--once``) against the simulator. Each fault lasts until a
window has failed (longer than the request's retry budget), then stops; the daemon must retry
that window and land it. The lake must then hold every conversation of the exported range once:
a skipped window would show up as missing conversations. The request-level retries themselves
are covered in ``tests/integration/test_client.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from producer.platforms.genesys.simulator import RunningSimulator, Simulator, SimulatorConfig, serve
from producer.windows import align_down
from tests.durability.audit import (
    assert_exactly_once,
    audit_lake,
    read_file_lake,
)
from tests.durability.inprocess import (
    daemon_settings,
    run_daemon,
    sample,
)
from tests.fixtures.simulator import conversation_ids, telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_WATERMARK = align_down(_NOW - timedelta(minutes=15), 900)
_START = _WATERMARK - timedelta(minutes=30)  # two windows
_LASTING = 10_000  # "every request" for the simulator's counted switches


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock, so the ground truth and the last window are known in advance."""
    return telephony_config(lambda: _NOW, conversations_per_hour=240.0, rate_limit_per_minute=0)


_FAULTS: dict[str, tuple[Callable[[Simulator], None], str | None]] = {
    # name: (arm the fault, the mesh_api_retries_total reason it must show; None: not retried)
    "503 burst": (
        lambda sim: sim.fail_next(_LASTING, 503, path_contains="/results"),
        "server_error",
    ),
    "500 burst": (lambda sim: sim.fail_next(_LASTING, 500, path_contains="/jobs"), "server_error"),
    "connection resets": (
        lambda sim: sim.reset_next(_LASTING, path_contains="/results"),
        "connection",
    ),
    "truncated pages": (lambda sim: sim.truncate_next(_LASTING), "bad_body"),
    "non-JSON pages": (lambda sim: sim.malformed_next(_LASTING), "bad_body"),
    "job ends FAILED": (lambda sim: sim.fail_next_job("FAILED"), None),
    "job ends EXPIRED": (lambda sim: sim.fail_next_job("EXPIRED"), None),
}


@pytest.mark.parametrize("fault", list(_FAULTS))
async def test_a_window_hit_by_a_lasting_fault_is_rerun_and_lands(
    simulator: RunningSimulator, tmp_path: Path, fault: str
) -> None:
    """The fault outlasts the retry budget: the window fails, is re-run, and nothing is lost."""
    arm, retry_reason = _FAULTS[fault]
    arm(simulator.sim)
    registry = CollectorRegistry()
    settings = daemon_settings(
        api_url=simulator.base_url,
        lake_url=(tmp_path / "lake").as_uri(),
        start=_START,
        request_retry_seconds=0.6,  # one retry (the first backoff is 0.25-0.5 s), then give up
    )

    result = await run_daemon(
        settings, registry, until_watermark=_WATERMARK, on_first_failure=simulator.sim.faults.clear
    )

    assert result.ok, result.reports
    assert sample(registry, "mesh_windows_total", outcome="failed") >= 1, (
        "the fault failed no window"
    )
    if retry_reason is not None:
        assert sample(registry, "mesh_api_retries_total", reason=retry_reason) >= 1
    objects, _ = read_file_lake(tmp_path / "lake")
    audit = audit_lake(objects)
    assert audit.watermark == _WATERMARK
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _WATERMARK), context=fault)


async def test_a_cursor_that_stops_working_mid_export_reruns_the_window(tmp_path: Path) -> None:
    """The job's results expire while being paged: the cursor gets 404, the window is re-run.

    Timing, not a switch, makes the cursor stop: results live 2 s after the job completes and
    the first two page requests are each held 1.5 s, so page 1 is served and page 2 is not.
    """
    config = telephony_config(
        lambda: _NOW,
        conversations_per_hour=240.0,
        rate_limit_per_minute=0,
        job_expiry_seconds=2.0,
    )
    start = _WATERMARK - timedelta(minutes=15)  # one window, ~60 conversations
    async with serve(config) as running:
        running.sim.slow_next(2, 1.5, path_contains="/results")
        registry = CollectorRegistry()
        base = daemon_settings(
            api_url=running.base_url, lake_url=(tmp_path / "lake").as_uri(), start=start
        )
        assert base.telephony is not None
        settings = base.model_copy(
            update={"telephony": base.telephony.model_copy(update={"page_size": 5})}
        )

        result = await run_daemon(settings, registry, until_watermark=_WATERMARK)

        stopped = [
            r for r in running.sim.requests if "cursor=" in r.query and r.status in (400, 404)
        ]
        truth = conversation_ids(running.sim, start, _WATERMARK)
    assert stopped, "no request with a cursor was refused: the fault did not happen"
    assert result.ok, result.reports
    assert sample(registry, "mesh_windows_total", outcome="failed") >= 1
    objects, _ = read_file_lake(tmp_path / "lake")
    assert_exactly_once(audit_lake(objects), truth)
