"""Group commit without servers: items handed in together share writes, and each caller
returns only once its own item is written."""

import asyncio

from notifier.batch import GroupCommit


async def test_items_handed_in_together_go_in_one_write_and_later_ones_in_the_next() -> None:
    writes: list[list[int]] = []
    gate = asyncio.Event()

    async def write(items: list[int]) -> None:
        writes.append(items)
        await gate.wait()

    group = GroupCommit(write)
    first = [asyncio.create_task(group.add(n)) for n in range(5)]
    await asyncio.sleep(0.01)
    assert writes == [[0, 1, 2, 3, 4]] and not any(t.done() for t in first)  # not yet written
    later = [asyncio.create_task(group.add(n)) for n in range(5, 8)]
    await asyncio.sleep(0.01)
    assert len(writes) == 1  # waiting for the write under way
    gate.set()
    await asyncio.gather(*first, *later)
    assert writes == [[0, 1, 2, 3, 4], [5, 6, 7]]


async def test_a_failed_write_fails_every_caller_in_it_and_the_next_write_goes_on() -> None:
    calls = 0

    async def write(items: list[str]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store away")

    group = GroupCommit(write)
    failed = await asyncio.gather(group.add("a"), group.add("b"), return_exceptions=True)
    assert [type(e) for e in failed] == [ConnectionError, ConnectionError]
    await group.add("c")  # a new write
    assert calls == 2


async def test_a_caller_cancelled_while_its_write_runs_holds_up_no_one() -> None:
    # A consumer's handler is cancelled when its broker connection closes; the others in the
    # same write, and those waiting for the next one, must still be answered.
    writes: list[list[int]] = []
    gate = asyncio.Event()

    async def write(items: list[int]) -> None:
        writes.append(items)
        await gate.wait()

    group = GroupCommit(write)
    cancelled, kept = asyncio.create_task(group.add(1)), asyncio.create_task(group.add(2))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(group.add(3))  # goes in the next write
    await asyncio.sleep(0.01)
    cancelled.cancel()
    gate.set()
    await asyncio.wait_for(asyncio.gather(kept, waiting), timeout=5)
    assert writes == [[1, 2], [3]] and cancelled.cancelled()


async def test_a_caller_cancelled_while_its_write_fails_holds_up_no_one() -> None:
    gate = asyncio.Event()

    async def write(items: list[int]) -> None:
        await gate.wait()
        if 1 in items:
            raise ConnectionError("store away")

    group = GroupCommit(write)
    cancelled, kept = asyncio.create_task(group.add(1)), asyncio.create_task(group.add(2))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(group.add(3))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    gate.set()
    failed = await asyncio.wait_for(asyncio.gather(kept, return_exceptions=True), timeout=5)
    assert [type(e) for e in failed] == [ConnectionError]
    await asyncio.wait_for(waiting, timeout=5)


async def test_items_trickling_in_share_a_write_until_the_linger_ends() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> None:
        writes.append(items)

    group = GroupCommit(write, step_s=0.1, linger_s=0.6)
    tasks = []
    for n in range(5):  # each well within a step of the last
        tasks.append(asyncio.create_task(group.add(n)))
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert writes == [[0, 1, 2, 3, 4]]

    writes.clear()
    tasks = []
    for n in range(12):  # still arriving when the linger's limit comes: the rest go next
        tasks.append(asyncio.create_task(group.add(n)))
        await asyncio.sleep(0.08)
    await asyncio.gather(*tasks)
    assert len(writes) >= 2 and sorted(n for w in writes for n in w) == list(range(12))


async def test_a_lone_item_waits_one_step() -> None:
    written = asyncio.Event()

    async def write(items: list[int]) -> None:
        written.set()

    group = GroupCommit(write, step_s=0.2, linger_s=10)
    task = asyncio.create_task(group.add(1))
    await asyncio.sleep(0.05)
    assert not written.is_set()  # still lingering
    await asyncio.wait_for(task, timeout=2)  # one quiet step, not the 10 s limit
