"""CSRF tokens: an HMAC of the session token (or, before login, of a random cookie)."""

from __future__ import annotations

import hashlib
import hmac


class CsrfSigner:
    """Makes and checks CSRF tokens bound to a session (or a pre-login cookie)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, binding: str) -> str:
        return hmac.new(self._key, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()

    def valid(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.token(binding), token)
