"""The composition root: builds every service once and wires the web app around them.

:func:`build_services` makes the shared core; :func:`init_app` fills the optional parts in one
order (AMI link, then the callbacks feature that dials over it, then the FastAGI server whose
satisfaction script reports to it), installs the shared web layer, and lets every feature of
:data:`FEATURES` add itself. Each long-lived resource (database engine, hub bridge, AMI link,
FastAGI server, scheduler, STT pool) is opened in a ``cleanup_ctx`` generator before ``yield``
and closed after it. Nothing imports this module but the command line.
"""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callcenter import __version__
from callcenter.accounts.users import UserService
from callcenter.audiosocket.api import build_audiosocket
from callcenter.audiosocket.feature import FEATURE as AUDIOSOCKET
from callcenter.callbacks.api import build_callbacks
from callcenter.callbacks.feature import FEATURE as CALLBACKS
from callcenter.config import Settings
from callcenter.conversation.feature import FEATURE as CONVERSATION
from callcenter.events import EventHub
from callcenter.features import HEALTH_CHECKS, Feature
from callcenter.incidents.api import build_incidents
from callcenter.incidents.feature import FEATURE as INCIDENTS
from callcenter.ivr.api import build_agi_server
from callcenter.ivr.feature import FEATURE as IVR
from callcenter.notifications.feature import FEATURE as NOTIFICATIONS
from callcenter.open311.feature import FEATURE as OPEN311
from callcenter.portal.api import NearbyOpenTickets, PhotoDecoder, PhotoLimits
from callcenter.portal.feature import FEATURE as PORTAL
from callcenter.reference import Gazetteer, load_reference
from callcenter.services import SERVICES, Services
from callcenter.staff.feature import FEATURE as STAFF
from callcenter.store.db import create_engine, ping, session_factory, sqlite_file
from callcenter.store.maintenance import SqliteMaintenance
from callcenter.store.pg_hub_bridge import PgHubBridge, asyncpg_dsn, bridge_for
from callcenter.store.reference_sync import sync_reference
from callcenter.stt.api import DecoderOptions, SilenceGate, SpeechService, VoiceReports
from callcenter.stt.feature import FEATURE as STT
from callcenter.telephony.api import AmiActions, AmiLink, ami_settings
from callcenter.telephony.feature import FEATURE as TELEPHONY
from callcenter.tickets.service import TicketService
from callcenter.wallboard.feature import FEATURE as WALLBOARD
from callcenter.web import error_pages as web_errors
from callcenter.web import headers as security_headers
from callcenter.web import templating
from callcenter.web.install import install_web_layer

logger = logging.getLogger(__name__)


# The order features are set up in (and their commands listed in): speech first (the IVR hands it
# recordings), then the AudioSocket server (the IVR records through it), then the IVR; the rest side by side.
FEATURES: tuple[Feature, ...] = (
    STT,
    AUDIOSOCKET,
    IVR,
    PORTAL,
    OPEN311,
    STAFF,
    TELEPHONY,
    CONVERSATION,  # after telephony: it stops its spies before the AMI link closes
    CALLBACKS,
    NOTIFICATIONS,
    WALLBOARD,
    INCIDENTS,
)
HUB_BRIDGE = web.AppKey("hub_bridge", PgHubBridge)

# Staff forms, login, tracking and Open311 are small: 1 MB and 200 fields leave a wide margin
# and keep one anonymous POST from holding the event loop while it is parsed.
MAX_FORM_BYTES = 1024 * 1024
MAX_FORM_FIELDS = 200


def build_services(settings: Settings) -> Services:
    """Construct (not start) the shared services."""
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    hub = EventHub()
    reference = load_reference()
    tickets = TicketService(sessions, hub, zone=settings.zone, done_rules=reference.done_rule)
    speech = SpeechService(
        settings.stt_model,
        settings.stt_workers,
        settings.stt_job_timeout,
        reference,
        decoder=DecoderOptions(max_active=settings.stt_max_active, beam=settings.stt_beam),
        live_gate=SilenceGate(
            threshold=settings.stt_live_silence_threshold, tail_seconds=settings.stt_live_silence_tail
        ),
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        hub=hub,
        reference=reference,
        gazetteer=Gazetteer(reference.streets),
        tickets=tickets,
        users=UserService(sessions),
        speech=speech,
        voice=VoiceReports(tickets, speech, settings.data_dir, sessions, reference),
        photos=PhotoDecoder(PhotoLimits(max_bytes=settings.max_photo_bytes)),
    )


def add_optional_parts(services: Services) -> None:
    """Fill the optional parts, each from those before it (the only place Services is written)."""
    settings = services.settings
    if settings.ami_enabled:
        services.ami = AmiLink(ami_settings(settings))
        # On PostgreSQL several instances may run: a follower's actions go to the AMI leader.
        relay = asyncpg_dsn(settings.database_url) is not None
        services.ami_actions = AmiActions(services.ami, services.hub, relay=relay)
    services.callbacks = build_callbacks(
        settings,
        sessions=services.sessions,
        tickets=services.tickets,
        users=services.users,
        hub=services.hub,
        reference=services.reference,
        ami=services.ami,
    )
    services.incidents = build_incidents(
        settings,
        sessions=services.sessions,
        tickets=services.tickets,
        reference=services.reference,
        gazetteer=services.gazetteer,
        hub=services.hub,
    )
    if settings.agi_enabled and settings.ivr_recorder == "audiosocket":
        services.audiosocket = build_audiosocket(
            settings,
            services.speech,
            services.hub,
            nearby=NearbyOpenTickets(services.sessions, services.reference),
            drafts=services.voice.live_draft,
        )
    if settings.agi_enabled:
        services.agi = build_agi_server(
            settings,
            services.reference,
            services.tickets,
            services.voice,
            services.callbacks.outcomes,
            outage=services.incidents.outage_port,
            audiosocket=services.audiosocket,
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


def init_app(
    settings: Settings, services: Services | None = None, features: tuple[Feature, ...] | None = None
) -> web.Application:
    """Build the aiohttp application. ``features`` defaults to every feature (:data:`FEATURES`)."""
    services = services or build_services(settings)
    add_optional_parts(services)
    app = web.Application(
        middlewares=[web_errors.error_middleware],
        # Every request.post() is bounded by these; the portal's photo form reads its own
        # multipart stream with settings.max_request_bytes (callcenter/portal/multipart.py).
        client_max_size=MAX_FORM_BYTES,
        client_max_fields=MAX_FORM_FIELDS,
    )
    app[SERVICES] = services
    app[HEALTH_CHECKS] = {}
    security_headers.install(app, settings.tile_url)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("callcenter_web", "templates"),
        autoescape=True,
        context_processors=[templating.context_processor],
    )
    templating.install_filters(app, settings)
    app.router.add_static("/static", Path(str(resources.files("callcenter_web") / "static")), name="static")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/favicon.ico", favicon, name="favicon")
    app.cleanup_ctx.append(_database_ctx)
    # Several instances on one PostgreSQL share live updates and screen pops (LISTEN/NOTIFY).
    bridge = bridge_for(services.hub, settings.database_url)
    if bridge is not None:
        app[HUB_BRIDGE] = bridge
        app.cleanup_ctx.append(_hub_bridge_ctx)
    install_web_layer(
        app,
        settings=settings,
        sessions=services.sessions,
        users=services.users,
        hub=services.hub,
        secret=secret_key(settings),
    )
    for feature in features if features is not None else FEATURES:
        feature.setup(app, services)
    return app


GC_THRESHOLDS = (10_000, 20, 50)  # young, middle, old: the defaults are (700, 10, 10)


async def freeze_startup_objects(app: web.Application) -> None:
    """Leave what start-up made (modules, templates, reference data) out of the collector's scans.

    A full collection walked ~167k live objects in ~76 ms, in the middle of a burst of screen
    pops (issue 19); frozen objects are never scanned again, so the pauses scale with what the
    service holds now (calls, sockets), not with the code it loaded. For a process that runs one
    app (``callcenter serve`` adds it last to ``on_startup``), never for one that builds many
    (the tests): what is frozen is never collected.
    """
    gc.collect()
    gc.freeze()
    # Collections scan what is young: every 700 allocations (the default) a burst of 200 pops
    # ran ~15 young and one or two older collections, and a full one (16 ms) about every
    # other burst. Rarer young collections (each still well under a millisecond at this
    # size) and rarer full ones keep them out of most bursts (issue 19, pop_bench).
    gc.set_threshold(*GC_THRESHOLDS)


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
    await services.photos.close()
    await services.engine.dispose()


async def _hub_bridge_ctx(app: web.Application) -> AsyncIterator[None]:
    bridge = app[HUB_BRIDGE]
    await bridge.start()
    actions = app[SERVICES].ami_actions  # a follower's AMI actions travel over the bridge
    if actions is not None:
        await actions.start()
    try:
        yield
    finally:
        if actions is not None:
            await actions.close()
        await bridge.close()


async def favicon(request: web.Request) -> web.FileResponse:
    """Browsers ask for /favicon.ico whatever the page links; the same icon as the SVG one."""
    path = Path(str(resources.files("callcenter_web") / "static" / "favicon.ico"))
    return web.FileResponse(path, headers={"Content-Type": "image/x-icon", "Cache-Control": "public, max-age=86400"})


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    db_ok = await ping(services.engine)
    body = {
        "status": "ok" if db_ok else "error",
        "db": "ok" if db_ok else "unavailable",
        "ami": services.ami_state(),
        "version": __version__,
    }
    # Features add their own checks (the IVR: recordings folder and prompts), never `status`.
    for probe in request.app[HEALTH_CHECKS].values():
        body.update(await probe())
    return web.json_response(body, status=200 if db_ok else 503)
