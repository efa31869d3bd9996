"""A cap on a request body's length, applied as the body arrives (ASGI receive messages)."""

from starlette.types import Message, Receive


class BodyTooLong(Exception):
    """The request body passed its cap."""


class BodyCap:
    """A request's receive channel that raises BodyTooLong as soon as the body passes `limit`
    bytes: a body far too long is not received whole first (a multipart parser would spool
    all of it to disk)."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._left = limit
        self._more = True  # more of the body to come

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._more = bool(message.get("more_body", False))
            self._left -= len(message.get("body", b""))
            if self._left < 0:
                raise BodyTooLong
        return message

    async def drain(self) -> None:
        """Receive the rest of the body, dropping it: a client still sending would fail to
        write (aiohttp does) rather than read its answer."""
        while self._more:
            message = await self._receive()
            self._more = message["type"] == "http.request" and message.get("more_body", False)
