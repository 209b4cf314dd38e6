"""Signed links in messages: HMAC-SHA256 over a small JSON payload, with an expiry.

A token is ``base64url(payload).base64url(mac)``. The payload names the action ("answer":
the citizen's reply to «выполнено»; "unsub": unsubscribe one address), the ticket number or
the channel and address, and the expiry (Unix seconds). A changed byte or an expired token is
refused with a Russian message; nothing is looked up before the signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from callcenter.domain.errors import DomainError

MAX_TOKEN = 600
ANSWER = "answer"
UNSUBSCRIBE = "unsub"


class BadLink(DomainError):
    """The link was changed, cut short, or made with another key."""

    code = "bad_link"


class ExpiredLink(DomainError):
    code = "expired_link"


@dataclass(frozen=True)
class LinkClaims:
    action: str
    number: str | None = None
    channel: str | None = None
    address: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the link key must have at least 16 bytes")
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def make(self, claims: LinkClaims, expires: datetime) -> str:
        payload: dict[str, Any] = {"a": claims.action, "e": int(expires.timestamp())}
        for key, value in (("n", claims.number), ("c", claims.channel), ("d", claims.address)):
            if value is not None:
                payload[key] = value
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def check(self, token: str, action: str, now: datetime) -> LinkClaims:
        """The claims of a valid, unexpired token for ``action``; BadLink or ExpiredLink otherwise."""
        bad = BadLink("Ссылка повреждена или неполна: откройте её из сообщения целиком или позвоните 1563")
        if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
            raise bad
        body_text, mac_text = token.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError) as err:
            raise bad from err
        if not hmac.compare_digest(mac, self._mac(body)):
            raise bad
        try:
            payload = json.loads(body)
        except ValueError as err:
            raise bad from err
        if not isinstance(payload, dict) or payload.get("a") != action or not isinstance(payload.get("e"), int):
            raise bad
        if now.timestamp() > payload["e"]:
            raise ExpiredLink(
                "Срок действия ссылки истёк. Сообщить о выполнении можно по номеру 1563",
                details={"expired": payload["e"]},
            )
        return LinkClaims(action, payload.get("n"), payload.get("c"), payload.get("d"))


def answer_expiry(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)
