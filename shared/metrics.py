"""Prometheus metrics of the functions and the gateway (scraped at /metrics).

Consumers serve them on METRICS_PORT (a small HTTP server in a thread); the gateway adds a
/metrics route to its own app. Labels stay low-cardinality: queue names, outcomes, exception
types and route templates — never request ids or URLs.
"""

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

MESSAGES = Counter(
    "imgpipe_messages_total",
    "Messages handled, by queue and outcome (ok, retried, dead_lettered, given_up)",
    ["queue", "outcome"],
)
FAILURES = Counter(
    "imgpipe_message_failures_total",
    "Handler failures, by queue and exception type",
    ["queue", "reason"],
)
HANDLING = Histogram(
    "imgpipe_handling_seconds",
    "Time to handle one message, by queue",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("imgpipe_in_flight", "Messages being handled now, by queue", ["queue"])
HTTP_REQUESTS = Counter(
    "imgpipe_http_requests_total",
    "Gateway requests, by method, route and status code",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "imgpipe_http_request_seconds", "Gateway request latency, by route", ["method", "route"]
)


def serve(host: str, port: int) -> None:
    """Expose this process's metrics on http://<host>:<port>/metrics (port 0: don't).

    A port that cannot be bound is logged, not fatal: the function's work matters more.
    """
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        logging.getLogger(__name__).error("metrics not served on %s:%d: %s", host, port, exc)
