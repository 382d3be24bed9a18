"""Opt-out tokens: round trip, opacity, key rotation, and refusal of every alteration."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach import settings as settings_mod
from outreach.optout import keys, tokens

KEY = b"k" * 48
KID = keys.fingerprint(KEY)
RING = {KID: KEY}


def _token(**kw: object) -> str:
    claims: dict[str, object] = dict(
        customer_id=12345,
        outbox_id=987654,
        scope="campaign:42",
        purpose="p3",
        category="marketing",
        advertising=True,
    )
    claims.update(kw)
    return tokens.issue(KEY, KID, **claims)  # type: ignore[arg-type]


def test_round_trip_returns_every_claim() -> None:
    c = tokens.verify(RING, _token())
    assert (c.customer_id, c.outbox_id, c.scope, c.purpose, c.category, c.advertising) == (
        12345,
        987654,
        "campaign:42",
        "p3",
        "marketing",
        True,
    )
    assert c.kid == KID


def test_token_is_url_safe_and_opaque() -> None:
    t = _token(customer_id=4242, outbox_id=777, scope="kind:shaken", category="service")
    assert set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    for clear in (b"shaken", b"service", b"4242", b"777", b"kind"):
        assert clear not in raw
    assert len(t) < 100


def test_outbox_id_may_be_absent() -> None:
    assert tokens.verify(RING, _token(outbox_id=None)).outbox_id is None
    assert tokens.verify(RING, _token(outbox_id=0)).outbox_id == 0


@pytest.mark.parametrize(
    "other",
    [
        {"customer_id": 12346},
        {"outbox_id": 987655},
        {"scope": "campaign:43"},
        {"category": "service"},
        {"advertising": False},
    ],
)
def test_different_claims_give_different_tokens(other: dict[str, object]) -> None:
    assert _token(**other) != _token()


def test_flipped_character_is_refused() -> None:
    t = _token()
    for i in range(len(t)):
        flipped = t[:i] + ("A" if t[i] != "A" else "B") + t[i + 1 :]
        with pytest.raises(tokens.TokenError):
            tokens.verify(RING, flipped)


def test_truncated_or_extended_is_refused() -> None:
    t = _token()
    for n in range(len(t)):
        with pytest.raises(tokens.TokenError):
            tokens.verify(RING, t[:n])
    for extra in ("A", "AA", "AAAA", "=", ".", " "):
        with pytest.raises(tokens.TokenError):
            tokens.verify(RING, t + extra)


def test_other_customer_or_wider_scope_cannot_be_spliced_in() -> None:
    """Re-encrypting a changed payload without the key does not verify."""
    t = _token()
    raw = bytearray(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))
    head = 2 + len(KID) + tokens.TAG_LEN
    for i in range(head, len(raw)):  # every ciphertext byte: another id, scope, flag
        for bit in (1, 2, 64):
            mutated = bytearray(raw)
            mutated[i] ^= bit
            forged = base64.urlsafe_b64encode(bytes(mutated)).rstrip(b"=").decode()
            with pytest.raises(tokens.TokenError):
                tokens.verify(RING, forged)


def test_unknown_key_and_wrong_key_are_refused() -> None:
    t = _token()
    with pytest.raises(tokens.TokenError):
        tokens.verify({}, t)
    with pytest.raises(tokens.TokenError):
        tokens.verify({KID: b"another key"}, t)


@pytest.mark.parametrize("junk", ["", "a", "!!!!", "x" * 1000, "ü" * 10, "Zm9v", "AQ"])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(RING, junk)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_mutation_fails_verification(data: st.DataObject) -> None:
    t = _token(
        customer_id=data.draw(st.integers(0, 2**40)),
        outbox_id=data.draw(st.none() | st.integers(0, 2**40)),
        scope=data.draw(st.sampled_from(["campaign:1", "kind:shaken", "kind:nini"])),
        advertising=data.draw(st.booleans()),
    )
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. %"
    op = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate", "swap"]))
    i = data.draw(st.integers(0, len(t) - 1))
    if op == "replace":
        mutated = t[:i] + data.draw(st.sampled_from(alphabet)) + t[i + 1 :]
    elif op == "delete":
        mutated = t[:i] + t[i + 1 :]
    elif op == "insert":
        mutated = t[:i] + data.draw(st.sampled_from(alphabet)) + t[i:]
    elif op == "truncate":
        mutated = t[:i]
    else:
        j = data.draw(st.integers(0, len(t) - 1))
        chars = list(t)
        chars[i], chars[j] = chars[j], chars[i]
        mutated = "".join(chars)
    if mutated == t:
        return
    with pytest.raises(tokens.TokenError):
        tokens.verify(RING, mutated)


def test_rotation_old_tokens_still_verify() -> None:
    old_key, new_key = b"old-key-0123456789", b"new-key-0123456789"
    old_token = tokens.issue(
        old_key, keys.fingerprint(old_key), customer_id=1, outbox_id=2, scope="kind:shaken"
    )
    s = settings_mod.Settings(
        secret_key=new_key.decode(),
        old_secret_keys=f"2025a={old_key.decode()}",
    )
    ring = keys.ring(s)
    assert ring.kid == keys.fingerprint(new_key)
    assert tokens.verify(ring.verify, old_token).customer_id == 1
    new_token = tokens.issue(ring.key, ring.kid, customer_id=1, outbox_id=3, scope="kind:shaken")
    assert tokens.verify(ring.verify, new_token).outbox_id == 3
    # Once the old key is dropped, its tokens no longer verify.
    alone = keys.ring(settings_mod.Settings(secret_key=new_key.decode()))
    with pytest.raises(tokens.TokenError):
        tokens.verify(alone.verify, old_token)


def test_urls() -> None:
    assert tokens.optout_url("https://x.jp/", "T") == "https://x.jp/u/T"
    assert tokens.preferences_url("https://x.jp", "T") == "https://x.jp/preferences/T"
    assert tokens.mailto_url("u@x.jp", "T") == "mailto:u@x.jp?subject=unsubscribe%20T"


# Links already sent: version 1 tokens issued by the HMAC construction before AES-SIV
# (recorded from that code; the old key ends in "=" like base64 padding).
V1_TOKEN = "AQRCNWY3KcCfcb7DIk2R4miSfu81IiDc8Mpz-ZUjBO2bi0OS9ET0IOWheE5XpNEElIyQx34"
V1_OLD_KEY = b"old-key-2025=="
V1_OLD_TOKEN = "AQRsWWJz7eTHq3cpyAwgfSJCeI8Lc5Y8YftaIjFJl17DnbWF0CCLZmlbRbYIMuxt4EAqpLMwiA"


def test_new_tokens_are_aes_siv_as_documented() -> None:
    """An independent decryption with `cryptography`'s AES-SIV and the documented HKDF."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    t = _token()
    raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    assert raw[0] == tokens.VERSION == 2
    header = raw[: 2 + raw[1]]
    k = HKDF(hashes.SHA256(), 64, None, b"outreach/optout-token/aes-siv/v2").derive(KEY)
    payload = AESSIV(k).decrypt(raw[len(header) :], [header])
    assert b"campaign:42" in payload and b"marketing" in payload
    assert _token() == t  # deterministic: a re-rendered message has the same link


def test_links_sent_before_the_change_still_verify() -> None:
    c = tokens.verify(RING, V1_TOKEN)
    assert (c.customer_id, c.outbox_id, c.scope, c.advertising) == (
        12345,
        987654,
        "campaign:42",
        True,
    )
    for i in range(len(V1_TOKEN)):  # and an altered old link is still refused
        flipped = V1_TOKEN[:i] + ("A" if V1_TOKEN[i] != "A" else "B") + V1_TOKEN[i + 1 :]
        with pytest.raises(tokens.TokenError):
            tokens.verify(RING, flipped)


def test_old_links_survive_a_rotation_even_with_an_equals_sign_in_the_old_key() -> None:
    s = settings_mod.Settings(
        secret_key="a-brand-new-key-0123456789",
        old_secret_keys=f"{V1_OLD_KEY.decode()}, {KEY.decode()}",
    )
    ring = keys.ring(s)
    old = tokens.verify(ring.verify, V1_OLD_TOKEN)
    assert (old.customer_id, old.outbox_id, old.scope) == (7, None, "kind:shaken")
    assert tokens.verify(ring.verify, V1_TOKEN).customer_id == 12345
    assert tokens.verify(ring.verify, _token()).customer_id == 12345  # a v2 link of KEY
    labelled = keys.parse_old("2025a=" + V1_OLD_KEY.decode())  # the labelled form still works
    assert labelled["2025a"] == V1_OLD_KEY
    assert tokens.verify(labelled, V1_OLD_TOKEN).customer_id == 7
