"""Write deploy/rabbitmq/definitions.json from the topology the functions declare.

    python -m deploy.gen_definitions            # rewrite the file
    python -m deploy.gen_definitions --check    # exit 1 if the committed file is stale

The definitions are recorded from `shared.broker.declare_topology` itself, run against a channel
that only takes notes, so what RabbitMQ loads at boot cannot drift from what every function
declares at startup (a mismatch would make the broker refuse the functions' declarations with
PRECONDITION_FAILED). The file holds no users: deploy/rabbitmq/entrypoint.sh adds the one user
from the environment when the broker starts.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from aio_pika.abc import AbstractChannel, ExchangeType

from shared.broker import declare_topology

DEFINITIONS = Path(__file__).resolve().parent / "rabbitmq" / "definitions.json"
VHOST = "/"


class _RecordedQueue:
    def __init__(self, channel: "RecordingChannel", name: str) -> None:
        self._channel = channel
        self.name = name

    async def bind(
        self,
        exchange: Any,
        routing_key: str | None = None,
        *,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        self._channel.bindings.append(
            {
                "source": exchange if isinstance(exchange, str) else exchange.name,
                "vhost": VHOST,
                "destination": self.name,
                "destination_type": "queue",
                "routing_key": self.name if routing_key is None else routing_key,
                "arguments": dict(arguments or {}),
            }
        )


class RecordingChannel:
    """Just enough of aio-pika's channel for `declare_topology`, with aio-pika's defaults.

    Parameters it does not know make the call fail: anything new in `declare_topology` must be
    taught here before it can reach the definitions.
    """

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.queues: list[dict[str, Any]] = []
        self.bindings: list[dict[str, Any]] = []

    async def declare_exchange(
        self,
        name: str,
        type: ExchangeType | str = ExchangeType.DIRECT,
        *,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        passive: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        if passive:
            raise ValueError(f"passive declaration of {name!r} has no definitions equivalent")
        self.exchanges.append(
            {
                "name": name,
                "vhost": VHOST,
                "type": type.value if isinstance(type, ExchangeType) else type,
                "durable": durable,
                "auto_delete": auto_delete,
                "internal": internal,
                "arguments": dict(arguments or {}),
            }
        )

    async def declare_queue(
        self,
        name: str,
        *,
        durable: bool = False,
        exclusive: bool = False,
        passive: bool = False,
        auto_delete: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> _RecordedQueue:
        if exclusive or passive:
            raise ValueError(f"exclusive or passive queue {name!r} has no definitions equivalent")
        self.queues.append(
            {
                "name": name,
                "vhost": VHOST,
                "durable": durable,
                "auto_delete": auto_delete,
                "arguments": dict(arguments or {}),
            }
        )
        return _RecordedQueue(self, name)


def definitions() -> dict[str, Any]:
    """RabbitMQ definitions (vhost, exchanges, queues, bindings) of `declare_topology`."""
    channel = RecordingChannel()
    asyncio.run(declare_topology(cast(AbstractChannel, channel)))
    return {
        "vhosts": [{"name": VHOST}],
        "exchanges": channel.exchanges,
        "queues": channel.queues,
        "bindings": channel.bindings,
    }


def render() -> str:
    # Must start with "{": entrypoint.sh splices the user in right after it.
    return json.dumps(definitions(), indent=2) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not DEFINITIONS.exists() or DEFINITIONS.read_text() != text:
            sys.exit(f"{DEFINITIONS} is stale: run `python -m deploy.gen_definitions`")
        print(f"{DEFINITIONS} is up to date")
        return
    DEFINITIONS.parent.mkdir(parents=True, exist_ok=True)
    DEFINITIONS.write_text(text)
    print(f"wrote {DEFINITIONS}")


if __name__ == "__main__":
    main()
