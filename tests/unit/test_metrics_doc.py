"""Every series /metrics can expose is documented in docs/operations.md."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from outreach import metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def full_snapshot() -> metrics.Snapshot:
    return metrics.Snapshot(
        decisions=Counter({("p2", "email", "allowed"): 3}),
        denials=Counter({("p2", "email", "OPTED_OUT"): 1}),
        messages=Counter({("sent", "service", "docomo"): 2}),
        replies=Counter({"2xx": 2}),
        queue={("queued", "email"): 4},
        oldest={("queued", "email"): 60.0},
        ready={"email": 1},
        ready_late={"email": 5.0},
        optouts=Counter({("opt_out", "one_click"): 1}),
        runs=Counter({("daily", "done"): 1}),
        run_last_success={"daily": 1.7e9},
        run_last_duration={"daily": 12.0},
        leader_present=1,
        worker_last_attempt_age=3.0,
        workers_alive=1,
        schema_current=1,
    )


def test_every_series_is_documented() -> None:
    metrics.relay_reply(250, 0.01, advertising=False)
    metrics.optout_request("post", "POST", 200, 0.02)
    metrics.job_started("daily_reminders")
    metrics.job_ended("daily_reminders", ok=True)
    metrics.leader(True)
    text = metrics.exposition(full_snapshot()).decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    doc = DOC.read_text(encoding="utf-8")
    ours = {n for n in names if n.startswith("outreach_")}
    assert len(ours) >= 20
    missing = sorted(n for n in ours if f"`{n}`" not in doc and f"`{n}_total`" not in doc)
    assert missing == []
    assert "process_resident_memory_bytes" in doc


def test_domain_groups_follow_the_carrier_table() -> None:
    groups = {"docomo.ne.jp": "docomo", "ezweb.ne.jp": "au"}
    assert metrics.domain_group("docomo.ne.jp", groups) == "docomo"
    assert metrics.domain_group("sub.ezweb.ne.jp", groups) == "au"
    assert metrics.domain_group("Example.JP.", groups) == "other"
    assert metrics.domain_group(None, groups) == metrics.domain_group("", groups) == "none"
