"""The composition root: builds every service once and wires the web app around them.

Each long-lived resource (database engine, AMI link, FastAGI server, scheduler, STT pool) is
opened in a ``cleanup_ctx`` generator before ``yield`` and closed after it. Feature slices
get their dependencies from the one :class:`Services` object, never from module globals.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callcenter import __version__
from callcenter.config import Settings
from callcenter.events import EventHub
from callcenter.reference import Gazetteer, ReferenceData, load_reference
from callcenter.staff.users import UserService
from callcenter.store.db import create_engine, ping, session_factory, sqlite_file
from callcenter.store.maintenance import SqliteMaintenance
from callcenter.store.notify import install_hub_bridge
from callcenter.store.reference_sync import sync_reference
from callcenter.stt.service import SpeechService
from callcenter.tickets.service import TicketService
from callcenter.tickets.voice import VoiceReports
from callcenter.web import errors as web_errors
from callcenter.web import headers as security_headers
from callcenter.web import templating

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the features share. Built by :func:`build_services`, started by the app."""

    settings: Settings
    engine: Any
    sessions: Any
    hub: EventHub
    reference: ReferenceData
    gazetteer: Gazetteer
    tickets: TicketService
    users: UserService
    speech: Any = None          # SpeechService (available only with a model)
    voice: Any = None           # VoiceReports: IVR recordings -> draft tickets
    # Optional parts join as their features land; each is None while disabled.
    ami: Any = None
    agi: Any = None
    stt: Any = None
    callbacks: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def ami_state(self) -> str:
        if self.ami is None:
            return "disabled"
        state = self.ami.state
        return str(getattr(state, "value", state))


SERVICES = web.AppKey("services", Services)

# Staff forms, login, tracking and Open311 are small: 1 MB and 200 fields leave a wide margin
# and keep one anonymous POST from holding the event loop while it is parsed.
MAX_FORM_BYTES = 1024 * 1024
MAX_FORM_FIELDS = 200
Feature = Callable[[web.Application, Services], None]


def build_services(settings: Settings) -> Services:
    """Construct (not start) the shared services."""
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    hub = EventHub()
    reference = load_reference()
    tickets = TicketService(sessions, hub, zone=settings.zone)
    speech = SpeechService(settings.stt_model, settings.stt_workers, settings.stt_job_timeout, reference)
    return Services(
        settings=settings, engine=engine, sessions=sessions, hub=hub, reference=reference,
        gazetteer=Gazetteer(reference.streets), tickets=tickets, users=UserService(sessions),
        speech=speech, voice=VoiceReports(tickets, speech, settings.data_dir, sessions, reference),
    )


def secret_key(settings: Settings) -> bytes:
    """The configured key, or one made once and kept in the data folder (never in the repo)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def init_app(settings: Settings, services: Services | None = None,
             features: list[Feature] | None = None) -> web.Application:
    """Build the aiohttp application. ``features`` defaults to every feature slice."""
    services = services or build_services(settings)
    app = web.Application(
        middlewares=[web_errors.error_middleware],
        # Every request.post() is bounded by these; the portal's photo form reads its own
        # multipart stream with settings.max_request_bytes (callcenter/portal/multipart.py).
        client_max_size=MAX_FORM_BYTES, client_max_fields=MAX_FORM_FIELDS,
    )
    app[SERVICES] = services
    security_headers.install(app, settings.tile_url)
    aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("callcenter_web", "templates"), autoescape=True,
        context_processors=[templating.context_processor],
    )
    templating.install_filters(app, settings)
    app.router.add_static("/static", Path(str(resources.files("callcenter_web") / "static")), name="static")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.cleanup_ctx.append(_database_ctx)
    # Several instances on one PostgreSQL share live updates and screen pops (LISTEN/NOTIFY).
    install_hub_bridge(app, services)
    app.cleanup_ctx.append(_speech_ctx)
    for feature in features if features is not None else default_features():
        feature(app, services)
    return app


def default_features() -> list[Feature]:
    from callcenter.callbacks import setup as callbacks
    from callcenter.ivr.feature import setup as ivr
    from callcenter.open311.api import setup as open311
    from callcenter.portal.web import setup as portal
    from callcenter.staff.routes import setup as staff
    from callcenter.telephony import setup as telephony

    return [portal, open311, staff, ivr, telephony, callbacks]


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    Path(services.settings.data_dir).mkdir(parents=True, exist_ok=True)
    await sync_reference(services.sessions, services.reference)
    path = sqlite_file(services.settings.database_url)
    maintenance = SqliteMaintenance(path) if path is not None else None
    if maintenance is not None:
        maintenance.start()
    yield
    if maintenance is not None:
        await maintenance.close()
    await services.engine.dispose()


async def _speech_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the Vosk model off the loop; recordings left pending by a restart are transcribed again."""
    services = app[SERVICES]
    await services.speech.start()
    if services.speech.available:
        queued = await services.voice.resume_pending()
        logger.info("speech-to-text ready (%s); %d pending recordings queued", services.speech.model_name, queued)
    yield
    await services.voice.close()
    await services.speech.close()


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    db_ok = await ping(services.engine)
    body = {
        "status": "ok" if db_ok else "error",
        "db": "ok" if db_ok else "unavailable",
        "ami": services.ami_state(),
        "version": __version__,
    }
    return web.json_response(body, status=200 if db_ok else 503)
