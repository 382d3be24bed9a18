"""The process series: what only a running process can see, counted where it happens."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client import Counter as PromCounter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Process:
    """The series one process observes itself, in their own registry."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twins
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds
        self.send_seconds = Histogram(
            "outreach_worker_send_seconds",
            "Time from handing a message to the relay to its reply, by stream.",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.relay_replies = PromCounter(
            "outreach_worker_relay_replies",
            "Relay replies seen by this worker, by reply class (2xx, 4xx, 5xx, none).",
            ["reply"],
            registry=r,
        )
        self.optout_seconds = Histogram(
            "outreach_optout_effect_seconds",
            "Web opt-outs: from the request's arrival to the committed opt-out, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.job_seconds = Histogram(
            "outreach_job_duration_seconds",
            "Scheduled job runs (daily reminders, campaign fires), by job and outcome.",
            ["job", "outcome"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200),
            registry=r,
        )
        self.job_last_success = Gauge(
            "outreach_job_last_success_timestamp_seconds",
            "Unix time at which each scheduled job last finished without error.",
            ["job"],
            registry=r,
        )
        self.leader = Gauge(
            "outreach_scheduler_is_leader",
            "1 while this process holds the scheduler leadership, else 0.",
            registry=r,
        )
        self._job_started: dict[str, float] = {}
        # The labelled children of the per-message series, looked up once per label value
        # (`labels()` takes a lock and builds a key tuple on every call).
        self._replies: dict[str, Any] = {}
        self._sends: dict[bool, Any] = {}


_process: Process | None = None


def process() -> Process:
    """This process's series (built on first use)."""
    global _process
    if _process is None:
        _process = Process()
    return _process


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve this process's series on addr:port/metrics from a daemon thread (workers)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=process().registry)


def stream_of(advertising: bool | None) -> str:
    return "advertising" if advertising else "service"


def reply_class(code: int | None) -> str:
    return f"{code // 100}xx" if code else "none"


def relay_reply(code: int | None, seconds: float, *, advertising: bool) -> None:
    """Called by the worker for every message handed to the transport."""
    p = process()
    cls = reply_class(code)
    replies = p._replies.get(cls)
    if replies is None:
        replies = p._replies[cls] = p.relay_replies.labels(cls)
    replies.inc()
    sends = p._sends.get(advertising)
    if sends is None:
        sends = p._sends[advertising] = p.send_seconds.labels(stream_of(advertising))
    sends.observe(seconds)


def optout_request(route: str, method: str, status: int, seconds: float) -> None:
    """Called by the opt-out handlers: a successful POST is an opt-out taking effect."""
    if method == "POST" and status < 400:
        process().optout_seconds.labels(route).observe(seconds)


def job_started(job: str) -> None:
    process()._job_started[job] = time.monotonic()


def job_ended(job: str, *, ok: bool) -> None:
    p = process()
    started = p._job_started.pop(job, None)
    if started is not None:
        p.job_seconds.labels(job, "ok" if ok else "error").observe(time.monotonic() - started)
    if ok:
        p.job_last_success.labels(job).set(time.time())


def leader(held: bool) -> None:
    process().leader.set(1 if held else 0)
