"""Channel adapters: e-mail over SMTP (aiosmtplib) and SMS through a configurable HTTP gateway.

Each adapter is built only when its settings are present (``CALLCENTER_SMTP_HOST``,
``CALLCENTER_SMS_URL``). ``send`` returns the provider's id when it gives one, or raises
:class:`DeliveryError`; ``permanent`` tells the worker not to retry (a refused address), a
transient one (a dropped connection, a 4xx SMTP reply, a gateway's 5xx or 429) is retried.
"""

from __future__ import annotations

import json
import logging
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import aiosmtplib

from callcenter.config import Settings

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class ChannelAdapter(Protocol):
    async def send(self, address: str, subject: str, text: str, key: str) -> str | None: ...

    async def close(self) -> None: ...


class EmailChannel:
    """Plain-text UTF-8 mail through one SMTP relay (STARTTLS or implicit TLS, optional AUTH).

    ``key`` becomes the Message-ID, so a message sent again after a crash can be recognised as
    the same one by the receiving system.
    """

    def __init__(self, settings: Settings) -> None:
        self._s = settings

    async def send(self, address: str, subject: str, text: str, key: str) -> str | None:
        s = self._s
        # compat32 MIMEText with an encoded Header: the modern EmailMessage folds a long Cyrillic
        # subject into encoded words and drops the space at the fold ("принята вработу").
        message = MIMEText(text, "plain", "utf-8")
        message["From"] = s.smtp_from
        message["To"] = address
        message["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=key, domain="1563.local")
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                use_tls=s.smtp_tls,
                start_tls=True if (s.smtp_starttls and not s.smtp_tls) else False,
                timeout=s.smtp_timeout,
                cert_bundle=s.smtp_ca_file or None,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            raise DeliveryError(f"адрес отклонён сервером: {err}", permanent=True) from err
        except aiosmtplib.SMTPResponseException as err:
            permanent = 500 <= err.code < 600 and err.code not in (530, 534, 535, 554)
            raise DeliveryError(f"SMTP {err.code}: {err.message}", permanent=permanent) from err
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            raise DeliveryError(f"почтовый сервер недоступен: {type(err).__name__}: {err}") from err
        return str(message["Message-ID"])

    async def close(self) -> None:
        return None


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _fill(template: str, phone: str, text: str, content_type: str) -> str:
    """Put the values into the template, escaped for the body's format."""
    if "json" in content_type:
        esc = lambda v: json.dumps(v, ensure_ascii=False)[1:-1]  # noqa: E731 - inside a JSON string
    else:
        esc = lambda v: quote(v, safe="")  # noqa: E731 - form or URL encoding
    return template.replace("{phone}", esc(phone)).replace("{text}", esc(text))


class SmsChannel:
    """An SMS provider's HTTP API, described by settings: URL, method, auth header, body template,
    and where in the JSON answer the delivery result is (and which values mean accepted)."""

    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._s.sms_timeout))
        return self._session

    async def send(self, address: str, subject: str, text: str, key: str) -> str | None:
        s = self._s
        method = s.sms_method.upper()
        headers = {"Idempotency-Key": key}
        if s.sms_auth_header:
            name, _, value = s.sms_auth_header.partition(":")
            headers[name.strip()] = value.strip()
        url = _fill(s.sms_url, address, text, "url")
        body = None
        if method != "GET":
            headers["Content-Type"] = s.sms_content_type
            body = _fill(s.sms_body_template, address, text, s.sms_content_type).encode()
        try:
            async with self._client().request(method, url, data=body, headers=headers) as response:
                raw = await response.content.read(64 * 1024)
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise DeliveryError(f"SMS-шлюз недоступен: {type(err).__name__}: {err}") from err
        snippet = raw[:300].decode("utf-8", "replace")
        if status == 429 or status >= 500:
            raise DeliveryError(f"SMS-шлюз ответил {status}: {snippet}")
        if status >= 300:
            raise DeliveryError(f"SMS-шлюз отказал ({status}): {snippet}", permanent=True)
        return self._read_result(raw, snippet)

    def _read_result(self, raw: bytes, snippet: str) -> str | None:
        s = self._s
        if not s.sms_result_field:
            return None
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise DeliveryError(f"SMS-шлюз ответил не JSON: {snippet}") from err
        value = _dig(data, s.sms_result_field)
        if str(value).lower() not in {v.lower() for v in s.sms_ok_values}:
            raise DeliveryError(f"SMS-шлюз не принял сообщение: {s.sms_result_field}={value!r}", permanent=True)
        found = _dig(data, "id")
        return str(found) if found is not None else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def build_channels(settings: Settings) -> dict[str, ChannelAdapter]:
    """The configured channels by name ("email", "sms"); an empty dict when none is set."""
    channels: dict[str, ChannelAdapter] = {}
    if settings.smtp_host:
        channels["email"] = EmailChannel(settings)
    if settings.sms_url:
        channels["sms"] = SmsChannel(settings)
    return channels
