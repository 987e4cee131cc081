"""Shared fixtures: an isolated environment, strict task hygiene, and the real local servers.

The server fixtures live in ``tests/fixtures/`` (simulator, moto S3, Azurite, fake-gcs-server,
and the backend-parametrised lake) and are loaded as plugins.
``cli_logging`` is for modules that call ``cli.main`` in-process (``usefixtures``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import settings

# No test asserts a wall-clock time: hypothesis' 200 ms deadline per example failed property
# tests when the suite's processes shared two cores with the servers they start.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.s3",
    "tests.fixtures.s3_faults",
    "tests.fixtures.kinesis",
    "tests.fixtures.azure",
    "tests.fixtures.gcs",
    "tests.fixtures.backends",
]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MESH_*, AWS_*, AZURE_* or Google settings from the developer's shell leak into a test."""
    import os

    for name in list(os.environ):
        if name.startswith(("MESH_", "AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR_HOST")):
            monkeypatch.delenv(name)
    empty = tmp_path / "aws-config-empty"
    empty.mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))


@pytest.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    """A test that leaves tasks running on its loop fails."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leftover = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    assert not leftover, f"tasks left running: {[t.get_name() for t in leftover]}"


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """``cli.main`` configures structlog for the whole process (stderr); undo it afterwards."""
    yield
    structlog.reset_defaults()
