"""The faults suite's own HTTP servers: a misbehaving image origin and a webhook receiver.

Both run on an event loop of their own in a background thread, so that blocking test code
(stack restarts, synchronous database and S3 clients) never stalls them: a stalled origin
would make the fetcher time out and blur what the injected fault did.
"""

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from tests.faults.corpus import Corpus
from tests.server_thread import ServerThread

_HTML = b"<!DOCTYPE html><html><head><title>Not here</title></head><body>moved</body></html>"


class Origin:
    """Serves the corpus at /KIND/ARG/TAG/NAME, misbehaving as KIND says.

    img (serve NAME), slow (wait ARG ms every time), slowonce (wait ARG ms the first time),
    fail (5xx the first ARG times), reset (close the connection before answering the first
    ARG times), cut (send half the body then drop the connection, first ARG times), status
    (always answer status ARG), garbage (random bytes labelled image/jpeg), fakejpeg (JPEG
    signature then garbage: passes the fetcher's sniffing, fails to decode), html (a 200 page).
    TAG only makes URLs distinct between scenarios; hits are counted per path.
    """

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.base = ""
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()

    def url(self, kind: str, arg: int | str, tag: str, name: str) -> str:
        return f"{self.base}/{kind}/{arg}/{tag}/{name}"

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def served(self, tag: str) -> int:
        """Requests answered (or refused) for one scenario's URLs."""
        with self._lock:
            return sum(n for path, n in self._hits.items() if path.split("/")[3:4] == [tag])

    def _hit(self, path: str) -> int:
        with self._lock:
            self._hits[path] = self._hits.get(path, 0) + 1
            return self._hits[path]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{kind}/{arg}/{tag}/{name}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        kind, arg, name = (request.match_info[k] for k in ("kind", "arg", "name"))
        hit = self._hit(request.path)
        if kind == "slow" or (kind == "slowonce" and hit == 1):
            await asyncio.sleep(int(arg) / 1000)
        elif kind == "fail" and hit <= int(arg):
            status = (503, 500, 502)[hit % 3]
            return web.Response(status=status, text="try again")
        elif kind == "reset" and hit <= int(arg):
            assert request.transport is not None
            request.transport.abort()  # RST before any byte of the answer
            return web.Response(status=500)  # never reaches the client
        elif kind == "cut" and hit <= int(arg):
            return await self._cut(request, name)
        elif kind == "status":
            return web.Response(status=int(arg), text="no such image")
        elif kind == "garbage":
            return web.Response(body=_noise(name, 4000), content_type="image/jpeg")
        elif kind == "fakejpeg":
            return web.Response(
                body=b"\xff\xd8\xff\xe0" + _noise(name, 4000), content_type="image/jpeg"
            )
        elif kind == "html":
            return web.Response(body=_HTML, content_type="text/html")
        data, content_type = self.corpus.get(name)
        return web.Response(body=data, content_type=content_type)

    async def _cut(self, request: web.Request, name: str) -> web.StreamResponse:
        data, content_type = self.corpus.get(name)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        assert request.transport is not None
        request.transport.abort()
        return response


def _noise(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver got: when, what it answered, the headers and the JSON body."""

    tag: str
    at: float  # time.monotonic()
    answered: int
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    # What the reference verifier said as it arrived ("" when it passed), like a subscriber;
    # None when the receiver was given no secret (the checks then verify it themselves).
    refused: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = json.loads(self.raw)
        except ValueError:
            return {}
        return parsed

    @property
    def event_id(self) -> str:
        """The webhook's event id (Standard Webhooks), else what identifies the event today."""
        return (
            self.headers.get("webhook-id")
            or f"{self.body.get('request_id')}:{self.body.get('status')}"
        )


@dataclass
class WebhookReceiver:
    """Records every delivery to /hook/TAG; answers 500 to the first `fail_first[TAG]`. With
    the stack's `secret` it verifies each delivery on receipt: a check made minutes later
    would find its timestamp outside the scheme's 5 minutes of tolerance."""

    base: str = ""
    secret: str = ""
    fail_first: dict[str, int] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, tag: str) -> str:
        return f"{self.base}/hook/{tag}"

    def for_request(self, request_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.body.get("request_id") == request_id]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook/{tag}", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        tag = request.match_info["tag"]
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        refused = None if not self.secret else _refused(self.secret, raw, headers)
        with self._lock:
            earlier = sum(1 for d in self.deliveries if d.tag == tag)
            answer = 500 if earlier < self.fail_first.get(tag, 0) else 200
            self.deliveries.append(Delivery(tag, time.monotonic(), answer, headers, raw, refused))
        return web.Response(status=answer, text="ok" if answer == 200 else "not now")


def _refused(secret: str, raw: bytes, headers: dict[str, str]) -> str:
    """Why the reference verifier refuses a delivery now; "" if it accepts it."""
    try:
        Webhook(secret).verify(raw, headers)
    except Exception as exc:  # the library's WebhookVerificationError, or a missing header
        return repr(exc)
    return ""


@contextmanager
def serving(corpus: Corpus, webhook_secret: str = "") -> Iterator[tuple[Origin, WebhookReceiver]]:
    """An origin serving `corpus` and a webhook receiver (verifying on receipt with
    `webhook_secret`, when given), on a thread of their own."""
    thread = ServerThread()
    origin, hooks = Origin(corpus), WebhookReceiver(secret=webhook_secret)
    try:
        origin.base = thread.serve(origin.app())
        hooks.base = thread.serve(hooks.app())
        yield origin, hooks
    finally:
        thread.close()
