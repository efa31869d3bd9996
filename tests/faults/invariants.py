"""What must hold after every scenario, read from MongoDB, the buckets, the gateway's output
CSV, the webhook receiver and RabbitMQ (the checks themselves are in checks.py).

`inspect_request` gathers every violation (one run reports them all, with the counts of the
results table); `check_invariants` asserts there are none.
"""

import asyncio
import urllib.request
from dataclasses import dataclass
from typing import Any

from minio.error import S3Error

from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, ORIGINALS_BUCKET
from tests.faults.checks import (
    Outcome,
    State,
    check_dead_letter,
    check_objects,
    check_output_csv,
    check_records,
    check_webhook,
)
from tests.faults.queues import Broker
from tests.faults.servers import WebhookReceiver
from tests.faults.workload import Workload
from tests.integration.client import s3


@dataclass(frozen=True)
class Probe:
    """Where the checker reads from."""

    stack: Stack
    broker: Broker
    mongo: Any  # the stack's pymongo Database
    hooks: WebhookReceiver
    api_key: str  # of the suite's tenant: status and downloads are per tenant


async def inspect_request(probe: Probe, request_id: str, workload: Workload) -> Outcome:
    """Wait for the queues to drain, then collect every violation for this request."""
    outcome = Outcome(images_in=len(workload.images))
    outcome.problems += await probe.broker.wait_idle()
    state = await asyncio.to_thread(read_state, probe, request_id)
    check_records(state, workload, outcome)
    check_objects(state, outcome)
    check_output_csv(state, workload, outcome)
    deliveries = probe.hooks.for_request(request_id)
    check_webhook(deliveries, probe.stack.config.webhook_secret, state, outcome)
    for letter in await probe.broker.dead_letters(request_id):
        check_dead_letter(letter, state, workload, outcome)
    return outcome


async def check_invariants(probe: Probe, request_id: str, workload: Workload) -> Outcome:
    """Assert every invariant of a finished request; returns the counts."""
    outcome = await inspect_request(probe, request_id, workload)
    assert not outcome.problems, "\n".join(outcome.problems)
    return outcome


def read_state(probe: Probe, request_id: str) -> State:
    """The request's document, its images, its objects in both buckets and its output CSV."""
    client = s3(probe.stack)

    def keys(bucket: str) -> list[str]:
        objects = client.list_objects(bucket, prefix=f"{request_id}/", recursive=True)
        return [str(o.object_name) for o in objects]

    request = probe.mongo.requests.find_one({"_id": request_id}) or {}
    # Rows are stored 100 to a document (a page: its `rows`); one on its own is its own row.
    stored = probe.mongo.rows.find({"request_id": request_id}).sort("index", 1)
    rows = [row for doc in stored for row in doc.get("rows", [doc])]
    outcomes = {
        (d["row"], d["slot"]): d for d in probe.mongo.images.find({"request_id": request_id})
    }
    output = None
    if request.get("status") in ("completed", "completed_with_errors"):
        gateway = f"http://127.0.0.1:{probe.stack.config.ports.gateway}"
        download = urllib.request.Request(
            f"{gateway}/api/download/{request_id}",
            headers={"Authorization": f"Bearer {probe.api_key}"},
        )
        with urllib.request.urlopen(download, timeout=30) as response:
            output = response.read().decode("utf-8-sig")
    # An image is a slot of its row's URLs; it has a document once it finished.
    found = [
        {
            **outcomes.get((row["index"], slot), {"status": "pending"}),
            "_id": f"{request_id}.{row['index']}.{slot}",
            "row": row["index"],
            "slot": slot,
            "url": url,
        }
        for row in rows
        for slot, url in enumerate(row.get("urls", []))
    ]
    slots = {(i["row"], i["slot"]) for i in found}
    # Documents of no row's slot: nothing should write those.
    found += [{**d, "url": d.get("url", "")} for at, d in outcomes.items() if at not in slots]

    def exists(key: str) -> bool:
        try:
            client.stat_object(COMPRESSED_BUCKET, key)
        except S3Error:
            return False
        return True

    # Reused outputs are other requests' objects (shared/reuse.py): those still there.
    elsewhere = {
        image["compressed_key"]
        for image in found
        if image.get("reused") and not image["compressed_key"].startswith(f"{request_id}/")
    }
    return {
        "id": request_id,
        "request": request,
        "images": found,
        "originals": keys(ORIGINALS_BUCKET),
        "compressed": keys(COMPRESSED_BUCKET),
        "borrowed": {key for key in elsewhere if exists(key)},
        "output": output,
    }
