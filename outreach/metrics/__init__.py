"""Prometheus metrics: what the database holds, counted at scrape time, and what only a
process can see (latencies, leadership), counted where it happens.

Two kinds of series:

- **Stored** (`snapshot`): gate decisions, send attempts, the outbox queue, opt-outs, runs
  and scheduler leadership are read from the database when `/metrics` is scraped. They are
  the same numbers `outreach outbox`, `runs` and the console show, they cover every worker
  process on every machine, and they survive restarts. Counts of rows that are only ever
  added are exposed as counters (`_total`).
- **Process** (`process()`): send latency and relay replies in each `outreach worker`,
  the click-to-effect time of web opt-outs and job durations in `outreach serve`, and
  whether this process leads the scheduler. Each process serves its own: `serve` on
  `/metrics`, a worker on `--metrics-port`.

Every series is documented in docs/operations.md. Labels carry codes only (purpose,
channel, reason code, status, domain group), never an address.

Nothing is created at import: the process registry is built on first use.

The package: `live` (the process series), `stored` (the snapshot read from the database),
`text` (the exposition of both). Every name is re-exported here.
"""

from outreach.metrics.live import (
    CONTENT_TYPE,
    LATENCY_BUCKETS,
    Process,
    job_ended,
    job_started,
    leader,
    optout_request,
    process,
    relay_reply,
    reply_class,
    serve,
    stream_of,
)
from outreach.metrics.stored import Snapshot, domain_group, leader_present, snapshot
from outreach.metrics.text import exposition, families

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS",
    "Process",
    "Snapshot",
    "domain_group",
    "exposition",
    "families",
    "job_ended",
    "job_started",
    "leader",
    "leader_present",
    "optout_request",
    "process",
    "relay_reply",
    "reply_class",
    "serve",
    "snapshot",
    "stream_of",
]
