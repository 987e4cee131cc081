"""``WindowRouter``'s repeat check: every id of the window, in any order, spilled or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producer.contracts.registry import load_domain_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains import domain_spec
from producer.routing import Route, WindowRouter
from producer.seen import SeenIds
from producer.settings import default_contracts_dir
from producer.windows import Window

_WINDOW = Window(datetime(2026, 1, 5, 12, tzinfo=UTC), datetime(2026, 1, 5, 12, 15, tzinfo=UTC))
_CONTRACT = select_contract(
    load_domain_contracts(default_contracts_dir(), "telephony"), "telephony", None
)


def _conversation(number: int) -> dict[str, str]:
    start = _WINDOW.start + timedelta(seconds=number)
    return {
        "conversationId": f"c-{number}",
        "conversationStart": start.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize("memory_ids", [2, 16_384])
def test_an_early_conversation_sent_again_after_later_ones_is_a_duplicate(
    memory_ids: int,
) -> None:
    """Conversations 0..99 in start order, then 3, 50 and 0 again (and 99 twice in a row): the
    repeats are duplicates whether the ids are still in memory or long spilled."""
    with SeenIds(memory_ids=memory_ids) as seen:
        router = WindowRouter(
            spec=domain_spec("telephony"),
            validators=[Validator(_CONTRACT)],
            window=_WINDOW,
            rejected_at=_WINDOW.end,
            seen=seen,
        )
        first = [router.route(_conversation(n)).route for n in range(100)]
        again = [router.route(_conversation(n)).route for n in (99, 3, 50, 0)]
        assert Route.DUPLICATE not in first
        assert again == [Route.DUPLICATE] * 4
        assert router.route(_conversation(100)).route is not Route.DUPLICATE
        assert seen.spilled == (0 if memory_ids > 100 else 100)
