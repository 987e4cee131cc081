"""PriorityBudget on a real event loop: priority under contention, ageing, cancellation."""

from __future__ import annotations

import asyncio

from producer.budget import PriorityBudget


async def _drain(budget: PriorityBudget) -> None:
    """Use up the initial burst so every later acquire has to queue."""
    while True:
        try:
            async with asyncio.timeout(0.001):
                await budget.acquire("high")
        except TimeoutError:
            return


async def test_high_priority_is_served_first_under_contention() -> None:
    """With low, normal and high waiting, grants go high, then normal, then low."""
    budget = PriorityBudget(1200, ageing_s=3600)
    await _drain(budget)
    order: list[str] = []

    async def one(priority: str) -> None:
        await budget.acquire(priority)
        order.append(priority)

    async with asyncio.TaskGroup() as group:
        for priority in ["low"] * 5 + ["normal"] * 5 + ["high"] * 5:
            group.create_task(one(priority))
    assert order == ["high"] * 5 + ["normal"] * 5 + ["low"] * 5


async def test_low_priority_still_progresses_under_a_flood() -> None:
    """Ageing: one low waiter is served while high-priority requests keep arriving."""
    budget = PriorityBudget(1200, ageing_s=0.1)
    await _drain(budget)
    low_done = asyncio.Event()
    highs_before_low = 0

    async def low() -> None:
        await budget.acquire("low")
        low_done.set()

    async def flood() -> None:
        nonlocal highs_before_low
        while not low_done.is_set():
            await budget.acquire("high")
            if not low_done.is_set():
                highs_before_low += 1

    async with asyncio.TaskGroup() as group:
        group.create_task(low())
        floods = [group.create_task(flood()) for _ in range(8)]
        async with asyncio.timeout(10):
            await low_done.wait()
        for task in floods:
            task.cancel()
    assert low_done.is_set()
    # Served after a bounded number of high grants (two ageing steps at 20/s), not starved.
    assert highs_before_low < 20


async def test_cancelled_waiter_leaves_no_gap() -> None:
    """A waiter cancelled in the queue does not hold a slot: the next one gets it."""
    budget = PriorityBudget(600, ageing_s=3600)
    await _drain(budget)
    cancelled = asyncio.create_task(budget.acquire("high"))
    await asyncio.sleep(0)
    cancelled.cancel()
    async with asyncio.timeout(1.0):
        await budget.acquire("low")
    assert cancelled.cancelled()
    assert budget.waiting == 0


async def test_granted_then_cancelled_gives_the_slot_back() -> None:
    """A slot granted to a task cancelled before it resumed returns to the bucket."""
    budget = PriorityBudget(60, ageing_s=3600)  # one slot per second
    await _drain(budget)
    task = asyncio.create_task(budget.acquire("normal"))
    await asyncio.sleep(0)
    assert budget.waiting == 1
    # Make the race happen on purpose: the refill arrives and the dispatcher grants the slot
    # (the waiter's future is resolved), then the task is cancelled before it ever resumes.
    budget._tokens = 1.0
    budget._dispatch()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    # The returned slot is there at once; without it the next would wait about a second.
    async with asyncio.timeout(0.2):
        await budget.acquire("low")
