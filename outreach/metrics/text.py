"""The Prometheus text exposition: the stored series of a snapshot and the process series."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from outreach.metrics.live import process
from outreach.metrics.stored import Snapshot

C, G = CounterMetricFamily, GaugeMetricFamily

# The labelled series: (family, name, help, labels, the Snapshot field of {key: value}).
LABELLED: tuple[tuple[Any, str, str, tuple[str, ...], str], ...] = (
    (
        C,
        "outreach_gate_decisions",
        "Gate decisions stored, by purpose, channel and outcome (allowed, denied, deferred).",
        ("purpose", "channel", "outcome"),
        "decisions",
    ),
    (
        C,
        "outreach_gate_refusals",
        "Reasons of the denied and deferred decisions (one decision counts once per reason).",
        ("purpose", "channel", "reason"),
        "denials",
    ),
    (
        C,
        "outreach_send_attempts",
        "Results recorded by the workers (sent, deferred, temp_fail, perm_fail, hard_bounce, "
        "suppressed, denied), by stream and recipient domain group.",
        ("result", "stream", "domain_group"),
        "messages",
    ),
    (
        C,
        "outreach_relay_replies",
        "Relay replies recorded with the attempts, by reply class (2xx, 4xx, 5xx).",
        ("reply",),
        "replies",
    ),
    (
        G,
        "outreach_outbox_messages",
        "Outbox entries by status and channel.",
        ("status", "channel"),
        "queue",
    ),
    (
        G,
        "outreach_outbox_oldest_age_seconds",
        "Age of the oldest outbox entry in each status and channel (since it was queued).",
        ("status", "channel"),
        "oldest",
    ),
    (
        G,
        "outreach_outbox_ready",
        "Queued entries whose time has come (not_before passed), by channel.",
        ("channel",),
        "ready",
    ),
    (
        G,
        "outreach_outbox_ready_lag_seconds",
        "How long the longest-waiting ready entry has been due, by channel.",
        ("channel",),
        "ready_late",
    ),
    (
        C,
        "outreach_optouts",
        "Opt-outs, cessation requests and consent withdrawals in the ledger, by source.",
        ("action", "source"),
        "optouts",
    ),
    (
        C,
        "outreach_runs",
        "Daily runs and campaign fires (not dry runs), by kind and status.",
        ("kind", "status"),
        "runs",
    ),
    (
        G,
        "outreach_run_last_success_timestamp_seconds",
        "Unix time at which the last successful run of each kind finished.",
        ("kind",),
        "run_last_success",
    ),
    (
        G,
        "outreach_run_last_duration_seconds",
        "Duration of the last successful run of each kind.",
        ("kind",),
        "run_last_duration",
    ),
)

# The single gauges, left out while their Snapshot field is None: (name, help, field).
SINGLE: tuple[tuple[str, str, str], ...] = (
    (
        "outreach_worker_last_attempt_age_seconds",
        "Seconds since any worker last recorded a send attempt.",
        "worker_last_attempt_age",
    ),
    (
        "outreach_workers_alive",
        "Outbox workers with a heartbeat in the last 30 seconds (serve's own included).",
        "workers_alive",
    ),
    (
        "outreach_scheduler_leader_present",
        "1 if some process holds the scheduler leadership, else 0.",
        "leader_present",
    ),
    (
        "outreach_schema_current",
        "1 if the database is migrated to the code's head revision, else 0.",
        "schema_current",
    ),
)


def families(snap: Snapshot) -> Iterator[Metric]:
    """The stored series of one snapshot as Prometheus metric families."""
    for family, name, doc, labels, field in LABELLED:
        m: Any = family(name, doc, labels=list(labels))
        for key, value in sorted(getattr(snap, field).items()):
            m.add_metric(list(key) if isinstance(key, tuple) else [key], value)
        yield m
    for name, doc, field in SINGLE:
        value = getattr(snap, field)
        if value is not None:
            yield G(name, doc, value=value)


class _Fixed(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def exposition(snap: Snapshot | None, *, include_process: bool = True) -> bytes:
    """The Prometheus text exposition: the stored series of `snap` (None: the database did
    not answer) and this process's series."""
    up = GaugeMetricFamily(
        "outreach_database_up",
        "1 if the database answered this scrape's queries, else 0.",
        value=0 if snap is None else 1,
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([up, *(families(snap) if snap is not None else ())]))
    out = generate_latest(registry)
    if include_process:
        out += generate_latest(process().registry)
    return out
