"""Shared pieces of the notifications tests (no tests here; a pytest plugin of tests/conftest.py): a real SMTP server (aiosmtpd) on a
loopback port, with STARTTLS and AUTH when asked; a fake SMS gateway on a real socket; helpers
that make tickets with the citizen's consent."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import json
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from callcenter.config import Settings
from callcenter.domain.notifications import consent_record
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.tickets.schemas import NewTicket, TicketView
from callcenter.tickets.service import TicketService

OPERATOR = Actor(role=Role.OPERATOR, name="Оператор Смирнова")
SMTP_USER, SMTP_PASSWORD = "relay-user", "relay-password"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class MailHandler:
    """aiosmtpd handler: keeps every message; ``refuse`` recipients get 550."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message,  # type: ignore[arg-type]
                session.ssl is not None,
                bool(session.authenticated),
            )
        )
        self.arrived.set()
        return "250 Message accepted"

    def bodies(self) -> list[str]:
        return [r.message.get_body(("plain",)).get_content() for r in self.received]  # type: ignore[union-attr]

    def subjects(self) -> list[str]:
        return [str(r.message["Subject"]) for r in self.received]

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        async def until() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), timeout)


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class MailServer:
    handler: MailHandler
    port: int
    cert: Path | None


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), as a private relay would have."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def start_mail_server(tls_folder: Path | None = None) -> tuple[asyncio.AbstractServer, MailServer]:
    """aiosmtpd's SMTP protocol on 127.0.0.1:<free port>, in the test's own event loop.

    With ``tls_folder`` it offers STARTTLS, requires it, and requires AUTH (LOGIN/PLAIN) after it.
    """
    handler = MailHandler()
    cert = None
    kwargs: dict[str, Any] = {}
    if tls_folder is not None:
        cert, key = make_certificate(tls_folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs = {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": _authenticator,
            "auth_required": True,
            "auth_require_tls": True,
        }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="relay.test", **kwargs), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, MailServer(handler, port, cert)


@pytest.fixture
async def mail_server() -> AsyncIterator[MailServer]:
    """A plain (no TLS) SMTP server for the test; tests/conftest.py registers this module as a plugin,
    so any test may ask for it, and override ``settings`` with :func:`mail_settings`."""
    server, info = await start_mail_server()
    try:
        yield info
    finally:
        server.close()
        await server.wait_closed()


def mail_settings(settings: Settings, mail: MailServer, **changes: Any) -> Settings:
    """``settings`` sending e-mail to ``mail`` (plain SMTP on loopback), with ``changes``."""
    return dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=mail.port, smtp_starttls=False, **changes)


@dataclass
class Gateway:
    """A fake SMS provider: records requests, answers from a script (default: accepted)."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, Any]] = field(default_factory=list)


async def start_gateway() -> tuple[web.AppRunner, Gateway]:
    gateway = Gateway(url="")

    async def send(request: web.Request) -> web.Response:
        raw = await request.read()
        gateway.requests.append(
            {"method": request.method, "headers": dict(request.headers), "body": raw, "query": dict(request.query)}
        )
        status, body = (
            gateway.script.pop(0) if gateway.script else (200, {"status": "ok", "id": f"sms-{len(gateway.requests)}"})
        )
        if isinstance(body, (dict, list)):
            return web.json_response(body, status=status)
        return web.Response(text=str(body), status=status)

    app = web.Application()
    app.router.add_route("*", "/api/send", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gateway.url = f"http://127.0.0.1:{port}/api/send"
    return runner, gateway


def consented(email_address: str | None, *, sms: bool = False) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {"notify": consent_record(email=email_address, sms=sms, via="test", at=datetime.now(UTC))}


async def new_ticket(
    tickets: TicketService, email_address: str | None, phone: str = "+79781234567", *, sms: bool = False
) -> TicketView:
    return await tickets.create(
        NewTicket(
            channel=Channel.WEB,
            phone=phone,
            category="water_leak",
            title="Течь",
            address="улица Ленина, 5",
            extra=consented(email_address, sms=sms),
        ),
        OPERATOR,
    )


async def to_done(tickets: TicketService, number: str) -> TicketView:
    await tickets.move(number, Status.DISPATCHED, OPERATOR)
    await tickets.move(number, Status.IN_PROGRESS, OPERATOR)
    return await tickets.move(number, Status.DONE, OPERATOR, note="Течь устранена")


def json_body(request: dict[str, Any]) -> Any:
    return json.loads(request["body"])
