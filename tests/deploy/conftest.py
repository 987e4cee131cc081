"""Fixtures of the deploy checks: every kustomize overlay rendered once per session.

``rendered`` maps an overlay name to its objects, as ``kubectl kustomize`` prints them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.artifacts import OVERLAYS, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every overlay, rendered by the real kubectl kustomize."""
    return {name: render(f"overlays/{name}") for name in OVERLAYS}
