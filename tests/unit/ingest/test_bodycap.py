"""The cap on an upload's body: refused as it arrives, then drained."""

import pytest
from starlette.types import Message, Receive

from ingest.bodycap import BodyCap, BodyTooLong

LIMIT = 1000


def receiving(*messages: Message) -> tuple[Receive, list[Message]]:
    """A receive channel giving `messages` in order, and the list of those it gave."""
    given: list[Message] = []

    async def receive() -> Message:
        given.append(messages[len(given)])
        return given[-1]

    return receive, given


def part(size: int, more: bool = True) -> Message:
    return {"type": "http.request", "body": b"x" * size, "more_body": more}


async def test_a_body_within_the_cap_passes() -> None:
    receive, _ = receiving(part(LIMIT - 1), part(1, more=False))
    cap = BodyCap(receive, LIMIT)
    assert [len((await cap())["body"]) for _ in range(2)] == [LIMIT - 1, 1]
    await cap.drain()  # nothing more to receive: it must not wait for a message


async def test_a_body_over_the_cap_is_refused_as_it_arrives_then_drained() -> None:
    receive, given = receiving(part(LIMIT), part(1), part(10**6), part(5, more=False))
    cap = BodyCap(receive, LIMIT)
    await cap()
    with pytest.raises(BodyTooLong):
        await cap()
    assert len(given) == 2
    await cap.drain()
    assert len(given) == 4  # to the body's end, and no further


async def test_a_body_ending_over_the_cap_has_nothing_to_drain() -> None:
    receive, given = receiving(part(LIMIT + 1, more=False))
    cap = BodyCap(receive, LIMIT)
    with pytest.raises(BodyTooLong):
        await cap()
    await cap.drain()
    assert len(given) == 1


async def test_draining_stops_when_the_client_leaves() -> None:
    receive, given = receiving(part(LIMIT + 1), {"type": "http.disconnect"})
    cap = BodyCap(receive, LIMIT)
    with pytest.raises(BodyTooLong):
        await cap()
    await cap.drain()
    assert len(given) == 2
