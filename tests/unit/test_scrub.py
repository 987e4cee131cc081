"""The scrubber of upstream text: credentials out, everything else as it was."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from producer.auth.scrub import REDACTED, scrub

TOKEN = "tK3n_Zq9-8xVb2/LmN+pQ=="
SECRET = "s3cr3t-Value-9f2c7e"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "text",
    [
        f"request headers: Authorization: Bearer {TOKEN}; x-priority: high",
        f'{{"headers": {{"Authorization": "Bearer {TOKEN}", "Accept": "*/*"}}}}',
        f"authorization={TOKEN}",
        f"bearer {TOKEN} was refused",
        f"Bearer%20{quote(TOKEN, safe='')}",
        f"access_token={TOKEN}&expires_in=3600",
        f'{{"access_token": "{TOKEN}", "token_type": "bearer"}}',
        f"token: {TOKEN}",
        f"Proxy-Authorization: Basic {TOKEN}",
        f"Cookie: session={TOKEN}",
    ],
)
def test_credentials_after_a_marker_are_removed(text: str) -> None:
    cleaned = scrub(text)
    assert TOKEN not in cleaned
    assert quote(TOKEN, safe="") not in cleaned
    assert REDACTED in cleaned


def test_a_jwt_is_removed_wherever_it_stands() -> None:
    cleaned = scrub(f"upstream said: {JWT} is not valid here")
    assert JWT not in cleaned
    assert cleaned == f"upstream said: {REDACTED} is not valid here"


@pytest.mark.parametrize("form", [TOKEN, quote(TOKEN, safe=""), json.dumps(TOKEN)[1:-1], SECRET])
def test_given_values_are_removed_in_any_escaping(form: str) -> None:
    cleaned = scrub(f"code {form} (seen as {form})", [TOKEN, None, SECRET])
    assert form not in cleaned
    assert cleaned == f"code {REDACTED} (seen as {REDACTED})"


def test_ordinary_error_text_is_left_as_it_was() -> None:
    text = (
        "503 service.unavailable: Service Unavailable - The server is currently unavailable. "
        "[correlation 1f0c1c4e-6a5d-4d8e-9a51-1f1e0f3e2b7a]"
    )
    assert scrub(text, ["abc", "a-secret-value-not-here"]) == text


def test_values_shorter_than_the_minimum_are_not_replaced_everywhere() -> None:
    assert scrub("a bad request", ["a"]) == "a bad request"


def test_scrubbing_twice_changes_nothing_more() -> None:
    once = scrub(f"Authorization: Bearer {TOKEN}; access_token={TOKEN}", [SECRET])
    assert scrub(once, [SECRET]) == once
