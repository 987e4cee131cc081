"""The missing-tool rule of the deploy checks: skip on a developer machine, fail in CI.

Guards ``require_tool``: a tool that is not installed must never let a CI run pass silently.
"""

from __future__ import annotations

import pytest

from tests.deploy.tools import require_tool

_MISSING = "mesh-producer-no-such-tool"


def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true a missing tool fails the test, naming the tool."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=_MISSING):
        require_tool(_MISSING)


def test_missing_tool_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI=true a missing tool skips the test, saying how to install it."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install it with"):
        require_tool(_MISSING)


def test_installed_tool_is_found_first_in_the_virtualenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool of the test extra resolves to the virtualenv's copy even with an empty PATH."""
    monkeypatch.setenv("PATH", "")
    assert require_tool("hadolint").endswith("/hadolint")
