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


def families(snap: Snapshot) -> Iterator[Metric]:
    """The stored series of one snapshot as Prometheus metric families."""
    m: Any = CounterMetricFamily(
        "outreach_gate_decisions",
        "Gate decisions stored, by purpose, channel and outcome (allowed, denied, deferred).",
        labels=["purpose", "channel", "outcome"],
    )
    for (purpose, channel, out), n in sorted(snap.decisions.items()):
        m.add_metric([purpose, channel, out], n)
    yield m
    m = CounterMetricFamily(
        "outreach_gate_refusals",
        "Reasons of the denied and deferred decisions (one decision counts once per reason).",
        labels=["purpose", "channel", "reason"],
    )
    for (purpose, channel, reason), n in sorted(snap.denials.items()):
        m.add_metric([purpose, channel, reason], n)
    yield m
    m = CounterMetricFamily(
        "outreach_send_attempts",
        "Results recorded by the workers (sent, deferred, temp_fail, perm_fail, hard_bounce, "
        "suppressed, denied), by stream and recipient domain group.",
        labels=["result", "stream", "domain_group"],
    )
    for (result, stream, group), n in sorted(snap.messages.items()):
        m.add_metric([result, stream, group], n)
    yield m
    m = CounterMetricFamily(
        "outreach_relay_replies",
        "Relay replies recorded with the attempts, by reply class (2xx, 4xx, 5xx).",
        labels=["reply"],
    )
    for reply, n in sorted(snap.replies.items()):
        m.add_metric([reply], n)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_messages",
        "Outbox entries by status and channel.",
        labels=["status", "channel"],
    )
    for key, n in sorted(snap.queue.items()):
        m.add_metric(list(key), n)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_oldest_age_seconds",
        "Age of the oldest outbox entry in each status and channel (since it was queued).",
        labels=["status", "channel"],
    )
    for key, age in sorted(snap.oldest.items()):
        m.add_metric(list(key), age)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_ready",
        "Queued entries whose time has come (not_before passed), by channel.",
        labels=["channel"],
    )
    for channel, n in sorted(snap.ready.items()):
        m.add_metric([channel], n)
    yield m
    m = GaugeMetricFamily(
        "outreach_outbox_ready_lag_seconds",
        "How long the longest-waiting ready entry has been due, by channel.",
        labels=["channel"],
    )
    for channel, age in sorted(snap.ready_late.items()):
        m.add_metric([channel], age)
    yield m
    m = CounterMetricFamily(
        "outreach_optouts",
        "Opt-outs, cessation requests and consent withdrawals in the ledger, by source.",
        labels=["action", "source"],
    )
    for (action, source), n in sorted(snap.optouts.items()):
        m.add_metric([action, source], n)
    yield m
    m = CounterMetricFamily(
        "outreach_runs",
        "Daily runs and campaign fires (not dry runs), by kind and status.",
        labels=["kind", "status"],
    )
    for (kind, status), n in sorted(snap.runs.items()):
        m.add_metric([kind, status], n)
    yield m
    m = GaugeMetricFamily(
        "outreach_run_last_success_timestamp_seconds",
        "Unix time at which the last successful run of each kind finished.",
        labels=["kind"],
    )
    for kind, ts in sorted(snap.run_last_success.items()):
        m.add_metric([kind], ts)
    yield m
    m = GaugeMetricFamily(
        "outreach_run_last_duration_seconds",
        "Duration of the last successful run of each kind.",
        labels=["kind"],
    )
    for kind, s in sorted(snap.run_last_duration.items()):
        m.add_metric([kind], s)
    yield m
    if snap.worker_last_attempt_age is not None:
        yield GaugeMetricFamily(
            "outreach_worker_last_attempt_age_seconds",
            "Seconds since any worker last recorded a send attempt.",
            value=snap.worker_last_attempt_age,
        )
    if snap.workers_alive is not None:
        yield GaugeMetricFamily(
            "outreach_workers_alive",
            "Outbox workers with a heartbeat in the last 30 seconds (serve's own included).",
            value=snap.workers_alive,
        )
    if snap.leader_present is not None:
        yield GaugeMetricFamily(
            "outreach_scheduler_leader_present",
            "1 if some process holds the scheduler leadership, else 0.",
            value=snap.leader_present,
        )
    if snap.schema_current is not None:
        yield GaugeMetricFamily(
            "outreach_schema_current",
            "1 if the database is migrated to the code's head revision, else 0.",
            value=snap.schema_current,
        )


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
