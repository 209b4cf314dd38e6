"""Signed links: a changed byte, another key, another action or an expired link is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.notifications import NotifyChannel, Trigger, compose, retry_delay, trigger_for
from callcenter.notifications.links import ANSWER, UNSUBSCRIBE, BadLink, ExpiredLink, LinkClaims, LinkSigner

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SIGNER = LinkSigner(b"k" * 32)


def _token(days: int = 14) -> str:
    return SIGNER.make(LinkClaims(ANSWER, number="2600042"), NOW + timedelta(days=days))


def _legacy_token(payload: dict, key: bytes = b"k" * 32) -> str:  # type: ignore[type-arg]
    """A link of the first form (JSON payload, full MAC), as sent before the compact one."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_valid_token_round_trips() -> None:
    claims = SIGNER.check(_token(), ANSWER, NOW)
    assert claims == LinkClaims(ANSWER, number="2600042")
    unsub = SIGNER.make(LinkClaims(UNSUBSCRIBE, channel="sms", address="+79781234567"), NOW + timedelta(days=730))
    assert SIGNER.check(unsub, UNSUBSCRIBE, NOW) == LinkClaims(UNSUBSCRIBE, channel="sms", address="+79781234567")
    mail = SIGNER.make(LinkClaims(UNSUBSCRIBE, channel="email", address="анна@пример.рф"), NOW + timedelta(days=1))
    assert SIGNER.check(mail, UNSUBSCRIBE, NOW).address == "анна@пример.рф"


def test_tokens_are_short_enough_for_an_sms() -> None:
    """Each link in an SMS costs characters the city pays for (the JSON form took 107 and 111)."""
    unsub = SIGNER.make(LinkClaims(UNSUBSCRIBE, channel="sms", address="+79781234567"), NOW + timedelta(days=730))
    assert (len(_token()), len(unsub)) == (36, 47)
    assert "." not in _token() and "=" not in _token()


def test_links_of_the_first_form_still_work() -> None:
    expires = int((NOW + timedelta(days=14)).timestamp())
    old = _legacy_token({"a": "answer", "e": expires, "n": "2600042"})
    assert SIGNER.check(old, ANSWER, NOW) == LinkClaims(ANSWER, number="2600042")
    old_unsub = _legacy_token({"a": "unsub", "e": expires, "c": "email", "d": "a@example.ru"})
    assert SIGNER.check(old_unsub, UNSUBSCRIBE, NOW).address == "a@example.ru"
    with pytest.raises(BadLink):
        SIGNER.check(old, UNSUBSCRIBE, NOW)
    with pytest.raises(BadLink):
        SIGNER.check(_legacy_token({"a": "answer", "e": expires, "n": "1"}, key=b"z" * 32), ANSWER, NOW)
    body, mac = old.split(".")
    forged = _b64(_raw(body).replace(b"2600042", b"2600043")) + "." + mac
    with pytest.raises(BadLink, match="повреждена"):
        SIGNER.check(forged, ANSWER, NOW)
    with pytest.raises(ExpiredLink):
        SIGNER.check(old, ANSWER, NOW + timedelta(days=15))


def test_tampered_payload_is_refused() -> None:
    raw = _raw(_token())
    forged = _b64(raw.replace(b"2600042", b"2600043"))
    assert forged != _token()
    with pytest.raises(BadLink, match="повреждена"):
        SIGNER.check(forged, ANSWER, NOW)
    later = bytearray(raw)
    later[5] ^= 0x01  # the expiry's last byte: a link made to live longer
    with pytest.raises(BadLink):
        SIGNER.check(_b64(bytes(later)), ANSWER, NOW)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: t[:-16],  # no signature
        lambda t: t[:8],  # shorter than a header and a signature
        lambda t: t + ".x",  # a dot: read as the first form, and wrong there
        lambda t: t + ".x.y",  # two dots
        lambda t: "",
        lambda t: "!!!.???",
        lambda t: "!!!???",
        lambda t: "a" * 700,
        lambda t: t[:8] + t[-16:],  # body cut short
    ],
)
def test_mangled_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadLink):
        SIGNER.check(mangle(_token()), ANSWER, NOW)


def test_a_signed_body_that_is_not_ours_is_refused() -> None:
    """Even with a right MAC (a leaked key, a bug elsewhere), a body of another shape is refused."""
    key = b"k" * 32
    for body in (
        b"\x03\x01\x00\x00\x00\x00a\x00\x00",
        b"\x02\x09\xff\xff\xff\xffa\x00\x00",
        b"\x02\x01\xff\xff\xff\xffa\x00",
        b"\x02\x01\xff\xff\xff\xff\xff\x00\x00",
    ):
        token = _b64(body + hmac.new(key, body, hashlib.sha256).digest()[:12])
        with pytest.raises(BadLink):
            SIGNER.check(token, ANSWER, NOW)


def test_other_key_and_other_action_are_refused() -> None:
    with pytest.raises(BadLink):
        LinkSigner(b"z" * 32).check(_token(), ANSWER, NOW)
    with pytest.raises(BadLink):
        SIGNER.check(_token(), UNSUBSCRIBE, NOW)  # an answer link does not unsubscribe


def test_expired_token_is_refused_with_its_own_message() -> None:
    token = _token(days=1)
    assert SIGNER.check(token, ANSWER, NOW + timedelta(hours=23)).number == "2600042"
    with pytest.raises(ExpiredLink, match="истёк"):
        SIGNER.check(token, ANSWER, NOW + timedelta(days=1, seconds=1))


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        LinkSigner(b"short")


def test_triggers_and_texts() -> None:
    assert trigger_for("created", None, "new") is Trigger.REGISTERED
    assert trigger_for("status", "new", "dispatched") is None
    assert trigger_for("status", "dispatched", "in_progress") is Trigger.ACCEPTED
    assert trigger_for("status", "done", "in_progress") is None  # a reopen is not «принята в работу» again
    assert trigger_for("status", "in_progress", "done") is Trigger.DONE
    assert trigger_for("status", "done", "closed") is Trigger.CLOSED
    assert trigger_for("note", None, None) is None
    # a voice draft: registered when the operator confirms it, not when the IVR made it
    assert trigger_for("created", None, "new", {"channel": "ivr", "draft": True}) is None
    assert trigger_for("created", None, "new", {"channel": "ivr", "draft": False}) is Trigger.REGISTERED
    assert trigger_for("edit", None, None, {"changes": {"is_draft": [True, False]}}) is Trigger.REGISTERED
    assert trigger_for("edit", None, None, {"changes": {"title": ["a", "b"]}}) is None
    msg = compose(Trigger.DONE, "2600042", track_url="T", answer_url="A", unsubscribe_url="U")
    assert msg.text.splitlines() == [
        "Заявка № 2600042: выполнено. Подтвердите, пожалуйста, что проблема устранена.",
        "Ответить: A",
        "Отписаться: U",
    ]
    assert "T" in compose(Trigger.REGISTERED, "1", track_url="T", answer_url=None, unsubscribe_url="U").text
    assert NotifyChannel("sms") is NotifyChannel.SMS


def test_retry_delay_schedule() -> None:
    assert retry_delay(1, [1, 5], 4) == timedelta(minutes=1)
    assert retry_delay(2, [1, 5], 4) == timedelta(minutes=5)
    assert retry_delay(3, [1, 5], 4) == timedelta(minutes=5)
    assert retry_delay(4, [1, 5], 4) is None


def test_every_sms_text_fits_in_four_parts() -> None:
    """The real texts with real links (a 23-character public address, a 7-digit number): one
    Cyrillic SMS part holds 70 characters, a part of a longer one 67."""
    url, number = "https://1563.sev.gov.ru", "2600042"
    answer = f"{url}/n/answer/" + SIGNER.make(LinkClaims(ANSWER, number=number), NOW + timedelta(days=14))
    unsub = SIGNER.make(LinkClaims(UNSUBSCRIBE, channel="sms", address="+79781234567"), NOW + timedelta(days=730))
    lengths = {
        trigger: len(
            compose(
                trigger,
                number,
                track_url=f"{url}/track?number={number}",
                answer_url=answer,
                unsubscribe_url=f"{url}/n/unsubscribe/{unsub}",
            ).text
        )
        for trigger in Trigger
    }
    parts = {trigger: 1 if n <= 70 else -(-n // 67) for trigger, n in lengths.items()}
    assert max(parts.values()) <= 4 and parts[Trigger.DONE] == 4, lengths
