"""`make demo`: start the local stack if needed, submit sample-data/products.csv, wait, show.

Prints the request's status and its output CSV. The stack keeps running afterwards (for the
browser: http://127.0.0.1:8000/docs); `make down` stops it.
"""

import json
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from deploy.local.stack import ROOT, Stack, StackConfig

SAMPLE_CSV = ROOT / "sample-data" / "products.csv"
STACK_DIR = ROOT / ".stack"


def post_csv(url: str, path: Path, key: str) -> dict[str, str]:
    """multipart/form-data POST of one file, with the standard library only."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    body = head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {key}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, str] = json.load(response)
        return result


def get(url: str, key: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


def main() -> None:
    if not (STACK_DIR / "stack.json").exists():
        print("starting the local stack (RabbitMQ, SeaweedFS + relay, SecantusDB, functions)…")
        Stack(StackConfig(STACK_DIR)).start()
    state = json.loads((STACK_DIR / "stack.json").read_text())
    key = Stack.load(STACK_DIR).dev_key()
    gateway = state["env"]["PUBLIC_BASE_URL"]
    print(
        f"The sample CSV's images are served from 127.0.0.1; the stack allows fetching them with "
        f"FETCH_ALLOW_CIDRS={state['env']['FETCH_ALLOW_CIDRS']} (off by default: SSRF guard)."
    )
    started = time.monotonic()
    print(f"using the development API key (tenant dev): {key}")
    accepted = post_csv(f"{gateway}/api/upload", SAMPLE_CSV, key)
    request_id = accepted["request_id"]
    print(f"submitted {SAMPLE_CSV.relative_to(ROOT)} → request {request_id} ({accepted['status']})")
    while True:
        status = json.loads(get(f"{gateway}/api/status/{request_id}", key))
        counts = status["counts"]
        if status["status"] == "pending":
            print("  pending: the CSV is stored, ingest has not read it yet")
        else:
            print(
                f"  {status['status']}: {counts['done']} done, {counts['failed']} failed "
                f"of {counts['total']} images"
            )
        if status["status"] not in ("pending", "processing"):
            break
        if time.monotonic() - started > 120:
            sys.exit("the request did not finish within 120 s; see .stack/logs/")
        time.sleep(0.5)
    print(f"\nfinished in {time.monotonic() - started:.1f} s with status {status['status']}\n")
    for product in status["products"]:
        for image in product["images"]:
            saved = ""
            if image["bytes_out"]:
                saved = f"{image['bytes_in']:>9,} → {image['bytes_out']:>9,} bytes"
            if image.get("reused"):  # the same source and settings as an image before it
                saved += " (output reused)"
            print(
                f"  {product['product'][:32]:<32} {image['status']:<7} {saved}"
                f"{image['error'] or ''}"
            )
    print(f"\noutput CSV ({gateway}/api/download/{request_id}):\n")
    print(get(f"{gateway}/api/download/{request_id}", key).decode("utf-8-sig"))
    print("The stack is still running: try http://127.0.0.1:8000/docs — `make down` stops it.")


if __name__ == "__main__":
    main()
