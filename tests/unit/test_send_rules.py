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


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_relay_rate_limit_allows_a_burst_then_paces() -> None:
    now = FakeTime()
    lim = ratelimit.Limiter(relay=ratelimit.Limit(per_second=10), now=now)
    waits = [lim.take("a@example.jp") for _ in range(15)]
    assert waits[:10] == [0.0] * 10  # one second's worth at once
    assert waits[10:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    now.t += 10
    assert lim.delay("a@example.jp") == 0.0


def test_carrier_domains_share_one_budget_and_others_are_unaffected() -> None:
    now = FakeTime()
    cfg = config.load(REPO / "config" / "sending.toml")
    lim = cfg.limiter(1000, 1_000_000)
    lim.now = now
    assert lim.group_of("taro@ezweb.ne.jp") == "au"
    assert lim.group_of("taro@AU.COM") == "au"
    assert lim.group_of("taro@x.i.softbank.jp") == "softbank"
    assert lim.group_of("taro@example.jp") is None
    lim.take("a@ezweb.ne.jp")
    lim.take("b@au.com")
    assert lim.delay("c@au.com") == pytest.approx(0.5)  # 2 per second
    assert lim.delay("c@docomo.ne.jp") == 0.0
    assert lim.delay("c@gmail.com") == 0.0


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=60))
def test_rate_limit_never_exceeds_its_rate_over_any_span(gaps: list[float]) -> None:
    now = FakeTime()
    lim = ratelimit.Limiter(relay=ratelimit.Limit(per_second=5), now=now)
    sends = []
    for g in gaps:
        now.t += g
        sends.append(now.t + lim.take("x@example.jp"))
    # Over any window of length T, at most burst + rate·T sends (GCRA's guarantee).
    for i, start in enumerate(sends):
        for j in range(i, len(sends)):
            span = sends[j] - start
            assert j - i + 1 <= 5 + 5 * span + 1e-6


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
