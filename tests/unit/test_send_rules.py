"""Pure parts of sending: reply classification and backoff, rate limits, sending.toml, SMTP URL."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.errors import ConfigError
from outreach.send import config, file, ratelimit, retry, smtp
from outreach.send.protocol import SendResult

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (SendResult(True, 250, "250 2.0.0 OK"), retry.Outcome.SENT),
        (SendResult(False, 451, "451 4.3.0 try later"), retry.Outcome.RETRY),
        (SendResult(False, 421, "421 4.7.0 closing"), retry.Outcome.RETRY),
        (SendResult(False, None, "connection: reset"), retry.Outcome.RETRY),
        (SendResult(False, 550, "550 5.1.1 <a@b.jp>: User unknown"), retry.Outcome.BOUNCE),
        (SendResult(False, 550, "550 5.1.10 null MX"), retry.Outcome.BOUNCE),
        (SendResult(False, 553, "553 5.1.0 address rejected"), retry.Outcome.BOUNCE),
        (SendResult(False, 550, "550 user unknown"), retry.Outcome.BOUNCE),
        (SendResult(False, 550, "550 5.7.1 spam detected"), retry.Outcome.FAIL),
        (SendResult(False, 552, "552 5.3.4 message too big"), retry.Outcome.FAIL),
        (SendResult(False, 554, "554 transaction failed"), retry.Outcome.FAIL),
    ],
)
def test_classify(result: SendResult, outcome: retry.Outcome) -> None:
    assert retry.classify(result) is outcome


def test_temporary_failures_become_permanent_after_max_attempts() -> None:
    p = retry.Policy(max_attempts=3)
    temp = SendResult(False, 451, "451 later")
    assert retry.next_step(temp, 2, p) is retry.Outcome.RETRY
    assert retry.next_step(temp, 3, p) is retry.Outcome.FAIL


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_jittered_within_bounds(attempt: int, seed: int) -> None:
    p = retry.Policy(base=dt.timedelta(seconds=30), cap=dt.timedelta(hours=2))
    d = retry.backoff(attempt, p, random.Random(seed)).total_seconds()
    ceiling = min(7200, 30 * 2 ** (attempt - 1))
    assert 3 <= d <= max(3, ceiling)


def test_backoff_grows_on_average() -> None:
    p = retry.Policy()
    rng = random.Random(1)
    means = [
        sum(retry.backoff(a, p, rng).total_seconds() for _ in range(300)) / 300 for a in (1, 3, 5)
    ]
    assert means[0] < means[1] < means[2]


def test_relay_rate_limit_paces_sends_one_interval_apart() -> None:
    b = ratelimit.Budgets(relay=ratelimit.Limit(per_second=10), ahead=1.0)
    buckets = b.fresh()
    slots = b.allot(buckets, 1000.0, [None] * 15, limit=100)
    # One second ahead: 11 sends (0.0 … 1.0 s), 0.1 s apart; the rest do not fit now.
    assert slots[:11] == pytest.approx([1000.0 + 0.1 * i for i in range(11)])
    assert slots[11:] == [None] * 4
    assert b.relay_room(buckets, 1000.0, 100) == 0
    assert b.relay_room(buckets, 1010.0, 100) == 11  # idle for a while: no backlog of credit


def test_carrier_domains_share_one_budget_and_others_are_unaffected() -> None:
    cfg = config.load(REPO / "config" / "sending.toml")
    b = cfg.budgets(1000, 1_000_000)
    assert b.group_of("taro@ezweb.ne.jp") == "au"
    assert b.group_of("taro@AU.COM") == "au"
    assert b.group_of("taro@x.i.softbank.jp") == "softbank"
    assert b.group_of("taro@example.jp") is None
    buckets = b.fresh()
    groups = ["au", "au", None, "docomo", None, "au", None]
    slots = b.allot(buckets, 50.0, groups, limit=100)
    # au and docomo: one each now (2 per second: the next in 0.5 s stays queued); every
    # other message is allotted at the relay's pace, right away.
    assert [s is not None for s in slots] == [True, False, True, True, True, False, True]
    assert b.open_groups(buckets, 50.0, 100) == {"softbank": 1}
    assert b.open_groups(buckets, 50.5, 100) == {"au": 1, "docomo": 1, "softbank": 1}


def test_a_full_carrier_never_delays_the_other_mail() -> None:
    cfg = config.load(REPO / "config" / "sending.toml")
    b = cfg.budgets(None, None)
    buckets = b.fresh()
    slots = b.allot(buckets, 7.0, ["docomo"] * 50 + [None] * 200, limit=250)
    assert [s for s in slots[50:] if s != 7.0] == []  # all 200 at once, none waits
    assert sum(s is not None for s in slots[:50]) == 1


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=0.7), st.integers(1, 40)),
        min_size=1,
        max_size=40,
    )
)
def test_claims_never_exceed_the_rate_in_any_second(claims: list[tuple[float, int]]) -> None:
    """Claims at any moments, of any size, sharing one budget (as several workers do): no
    window of one second holds more than the per-second rate (+1 for a closed window)."""
    b = ratelimit.Budgets(relay=ratelimit.Limit(per_second=20, per_hour=36_000), ahead=1.0)
    state: dict[str, float] = {}
    t = 0.0
    sends: list[float] = []
    for gap, n in claims:
        t += gap
        buckets = b.fresh(state)  # read back from "the database", as each claim does
        new = [s for s in b.allot(buckets, t, [None] * n, limit=n) if s is not None]
        state = {k: v.tat for k, v in buckets.items()}
        assert all(t <= s <= t + 1.0 + 1e-6 for s in new)
        sends += new
    sends.sort()
    for i, start in enumerate(sends):
        j = i
        while j + 1 < len(sends) and sends[j + 1] <= start + 1.0 + 1e-9:
            j += 1
        assert j - i + 1 <= 21


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[retry]\nmax_attempts = 0\n", "max_attempts must be a positive integer"),
        ("[worker]\nbatch = 1.5\n", "batch must be a positive integer"),
        ('[carriers.x]\ndomains = "a.jp"\n', "domains must be a list"),
        ("[retry\n", "sending.toml"),
    ],
)
def test_bad_sending_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sending.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(path)


def test_shipped_sending_config_loads() -> None:
    cfg = config.load(REPO / "config" / "sending.toml")
    assert cfg.retry.max_attempts == 8 and cfg.batch == 250
    assert cfg.lease == dt.timedelta(seconds=300)
    assert {"docomo", "au", "softbank"} <= set(cfg.groups)


@pytest.mark.parametrize(
    ("url", "relay"),
    [
        ("smtp://relay.example.jp", smtp.Relay("relay.example.jp", 25)),
        (
            "smtp+starttls://u%40x:p%3Aw@relay.example.jp",
            smtp.Relay("relay.example.jp", 587, start_tls=True, username="u@x", password="p:w"),
        ),
        (
            "smtps://relay.example.jp",
            smtp.Relay("relay.example.jp", 465, use_tls=True, start_tls=False),
        ),
        ("smtp://127.0.0.1:2525", smtp.Relay("127.0.0.1", 2525)),
    ],
)
def test_smtp_url(url: str, relay: smtp.Relay) -> None:
    assert smtp.parse_url(url) == relay


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://host:notaport", "relay"])
def test_bad_smtp_url(url: str) -> None:
    with pytest.raises(ConfigError, match="invalid SMTP URL"):
        smtp.parse_url(url)


def test_eml_file_is_named_after_the_message_id() -> None:
    data = b"From: a@b.jp\r\nMessage-ID: <12.ab@mail.example.jp>\r\n\r\nbody\r\n"
    assert file.file_name(data) == "12.ab@mail.example.jp.eml"
    assert file.file_name(b"Subject: x\r\n\r\nMessage-ID: <no@x>\r\n").endswith(".eml")
    assert "/" not in file.file_name(b"Message-ID: <../../etc/passwd@x>\r\n\r\n")


@given(st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=80))
def test_a_worker_paces_its_share_however_late_its_sends_come(gaps: list[float]) -> None:
    """Sends asked for at any moments (a busy machine delays them): a worker sharing the
    budget with another never sends more than half the rate (+1) in any second."""
    now = FakeTime()
    pacer = ratelimit.Pacer(ratelimit.Budgets(relay=ratelimit.Limit(per_second=20)), now=now)
    pacer.share(2)
    sends = []
    for g in gaps:
        now.t += g
        sends.append(now.t + pacer.take("x@example.jp"))
    sends.sort()
    for i, start in enumerate(sends):
        inside = [s for s in sends[i:] if s < start + 1.0 - 1e-9]
        assert len(inside) <= 10 + 1


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t
