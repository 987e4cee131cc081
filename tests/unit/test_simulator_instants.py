"""The simulator's required date fields: each search keeps its own 400 wording.

Pins ``required_instant`` with the quality search's and the WFM search's ``InstantErrors``, so
a change to the shared check cannot reword what either simulated API answers. Pure; no server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from producer.platforms.genesys.simulator import quality, wfm
from producer.platforms.genesys.simulator.instants import InstantErrors, required_instant
from producer.platforms.genesys.simulator.responses import BadRequest

QUALITY: InstantErrors = quality._DATE_ERRORS
WFM: InstantErrors = wfm._DATE_ERRORS


@pytest.mark.parametrize(
    ("errors", "value", "code", "message"),
    [
        (QUALITY, None, "invalid.date", "startValue is required, as yyyy-MM-ddTHH:mm:ss.SSSZ"),
        (QUALITY, "", "invalid.date", "startValue is required, as yyyy-MM-ddTHH:mm:ss.SSSZ"),
        (QUALITY, "soon", "invalid.date", "startValue 'soon' is not a valid date"),
        (
            QUALITY,
            "2025-03-10T00:00:00",
            "invalid.date",
            "startValue '2025-03-10T00:00:00' has no time zone",
        ),
        (WFM, 7, "bad.request", "startValue is required"),
        (WFM, "{soon}", "invalid.date", "startValue '{soon}' is not an ISO-8601 instant"),
        (
            WFM,
            "2025-03-10T00:00:00",
            "invalid.date",
            "startValue '2025-03-10T00:00:00' has no offset",
        ),
    ],
)
def test_a_refused_date_field_is_worded_as_its_api_words_it(
    errors: InstantErrors, value: Any, code: str, message: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        required_instant(value, "startValue", errors)
    assert (refused.value.status, refused.value.code, refused.value.message) == (400, code, message)


@pytest.mark.parametrize("errors", [QUALITY, WFM])
def test_an_instant_with_an_offset_is_read(errors: InstantErrors) -> None:
    when = required_instant("2025-03-10T01:00:00.000+01:00", "startDate", errors)
    assert when == datetime(2025, 3, 10, tzinfo=UTC)
