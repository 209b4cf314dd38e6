"""Signed links: a changed byte, another key, another action or an expired link is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.notifications import NotifyChannel, Trigger, compose, retry_delay, trigger_for
from callcenter.notifications.links import ANSWER, UNSUBSCRIBE, BadLink, ExpiredLink, LinkClaims, LinkSigner

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SIGNER = LinkSigner(b"k" * 32)


def _token(days: int = 14) -> str:
    return SIGNER.make(LinkClaims(ANSWER, number="2600042"), NOW + timedelta(days=days))


def test_valid_token_round_trips() -> None:
    claims = SIGNER.check(_token(), ANSWER, NOW)
    assert claims.number == "2600042" and claims.action == ANSWER
    unsub = SIGNER.make(LinkClaims(UNSUBSCRIBE, channel="email", address="a@example.ru"), NOW + timedelta(days=1))
    assert SIGNER.check(unsub, UNSUBSCRIBE, NOW).address == "a@example.ru"


def test_tampered_payload_is_refused() -> None:
    body, mac = _token().split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"2600042", b"2600043")
    forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + mac
    with pytest.raises(BadLink, match="повреждена"):
        SIGNER.check(forged, ANSWER, NOW)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: t + ".x",  # two dots
        lambda t: "",
        lambda t: "!!!.???",
        lambda t: "a" * 700,
        lambda t: t[:20] + "." + t.split(".")[1],  # body cut short
    ],
)
def test_mangled_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadLink):
        SIGNER.check(mangle(_token()), ANSWER, NOW)


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
    msg = compose(Trigger.DONE, "2600042", track_url="T", answer_url="A", unsubscribe_url="U")
    assert msg.text.splitlines() == [
        "Заявка № 2600042: выполнено. Подтвердите, пожалуйста, что проблема устранена.",
        "Подтвердить или сообщить, что не исправлено: A",
        "Отписаться: U",
    ]
    assert "T" in compose(Trigger.REGISTERED, "1", track_url="T", answer_url=None, unsubscribe_url="U").text
    assert NotifyChannel("sms") is NotifyChannel.SMS


def test_retry_delay_schedule() -> None:
    assert retry_delay(1, [1, 5], 4) == timedelta(minutes=1)
    assert retry_delay(2, [1, 5], 4) == timedelta(minutes=5)
    assert retry_delay(3, [1, 5], 4) == timedelta(minutes=5)
    assert retry_delay(4, [1, 5], 4) is None
