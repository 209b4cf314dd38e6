"""Builds the notifications feature from the settings and the shared services (see api.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.clock import Clock, utcnow
from callcenter.config import Settings
from callcenter.domain.callbacks import CallbackPolicy
from callcenter.domain.notifications import NoAnswerRule, NotifyChannel
from callcenter.notifications.channels import ChannelAdapter, build_channels
from callcenter.notifications.links import LinkSigner
from callcenter.notifications.outbox import Links, Outbox, OutboxWriter
from callcenter.notifications.service import AnswerService
from callcenter.notifications.worker import NotificationWorker
from callcenter.portal.api import PhotoDecoder, PhotoLimits, PhotoStore
from callcenter.tickets.service import TicketService


@dataclass
class NotificationsFeature:
    settings: Settings
    outbox: Outbox
    writer: OutboxWriter
    worker: NotificationWorker
    answers: AnswerService


NOTIFICATIONS = web.AppKey("notifications", NotificationsFeature)


def link_key(settings: Settings) -> bytes:
    """CALLCENTER_NOTIFY_LINK_SECRET, else the app's secret key, else a key kept in the data folder."""
    if settings.notify_link_secret:
        return settings.notify_link_secret.encode()
    if settings.secret_key:
        # Derived, so that a short app secret still gives a full-length link key (never the secret itself).
        return hmac.new(settings.secret_key.encode(), b"notify-links", hashlib.sha256).digest()
    path = Path(settings.data_dir) / "notify-links.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def build_notifications(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    tickets: TicketService,
    channels: dict[str, ChannelAdapter] | None = None,
    clock: Clock = utcnow,
    owner: str | None = None,
    photos: PhotoDecoder | None = None,
) -> NotificationsFeature:
    """Construct (not start) the feature; ``channels`` replaces the configured adapters (tests).

    ``photos`` is the app's photo decoder (``Services.photos``); without it (tests that never
    decode a photo) the feature makes its own."""
    policy = CallbackPolicy.from_settings(settings)
    quiet = frozenset(settings.notify_quiet_channels)
    adapters = build_channels(settings) if channels is None else channels
    signer = LinkSigner(link_key(settings))
    outbox = Outbox(sessions, policy, quiet)
    links = Links(settings.public_url.rstrip("/"), signer, settings.notify_link_days)
    writer = OutboxWriter(links, frozenset(NotifyChannel(c) for c in adapters), policy, quiet)
    worker = NotificationWorker(
        outbox,
        adapters,
        owner=owner,
        lease=timedelta(seconds=settings.notify_lease_seconds),
        batch=settings.notify_batch,
        retry_minutes=settings.notify_retry_minutes,
        max_attempts=settings.notify_max_attempts,
        tick_seconds=settings.notify_tick_seconds,
        clock=clock,
    )
    answers = AnswerService(
        tickets,
        sessions,
        signer,
        outbox,
        PhotoStore(settings.data_dir, settings.max_photos),
        photos or PhotoDecoder(PhotoLimits(max_bytes=settings.max_photo_bytes)),
        no_answer_days=settings.notify_no_answer_days,
        no_answer_rule=NoAnswerRule(settings.notify_no_answer_action),
        clock=clock,
    )
    return NotificationsFeature(settings, outbox, writer, worker, answers)
