"""Builds the callbacks feature from what the composition root hands it (see callbacks/api.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.users import UserService
from callcenter.callbacks.ami_dialer import AmiDialer
from callcenter.callbacks.archive_job import ArchiveJob
from callcenter.callbacks.completion_board import CallbackBoard
from callcenter.callbacks.dialer import Dialer
from callcenter.callbacks.dispatcher import CallbackDispatcher
from callcenter.callbacks.service import CallbackOutcomes, CallbackService
from callcenter.callbacks.store import CallbackStore
from callcenter.config import Settings
from callcenter.domain.callbacks import CallbackMode, CallbackPolicy
from callcenter.events import EventHub
from callcenter.reference import ReferenceData
from callcenter.telephony.api import AmiLink
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)


@dataclass
class CallbacksFeature:
    """What the app holds for callbacks; ``services.callbacks`` is this object (built by the root)."""

    service: CallbackService
    outcomes: CallbackOutcomes  # the IVR's record_callback_outcome goes here
    board: CallbackBoard
    dialer: Dialer | None
    dispatcher: CallbackDispatcher
    archive: ArchiveJob
    tick_seconds: float


CALLBACKS = web.AppKey("callbacks", CallbacksFeature)


def build_callbacks(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    tickets: TicketService,
    users: UserService,
    hub: EventHub,
    reference: ReferenceData,
    ami: AmiLink | None,
) -> CallbacksFeature:
    """Construct (not start) the callbacks feature; ``ami`` dials when automatic callbacks are on."""
    policy = CallbackPolicy.from_settings(settings)
    automated = settings.callback_mode == "auto" and settings.ami_enabled
    if settings.callback_mode == "auto" and not settings.ami_enabled:
        logger.warning("CALLCENTER_CALLBACK_MODE=auto but AMI is off: callbacks go to the operators' list")
    service = CallbackService(
        CallbackStore(sessions, policy),
        tickets,
        default_mode=CallbackMode.AUTO if automated else CallbackMode.OPERATOR,
        lease=timedelta(seconds=settings.callback_lease_seconds),
        data_dir=settings.data_dir,
        users=users,
        hub=hub,
    )
    dialer = AmiDialer.from_settings(ami, settings) if ami is not None else None
    names = {d.code: d.short_name for d in reference.departments}
    categories = {c.code: c.name for c in reference.categories}
    return CallbacksFeature(
        service=service,
        outcomes=CallbackOutcomes(service),
        board=CallbackBoard(sessions, policy, names, categories),
        dialer=dialer,
        dispatcher=CallbackDispatcher(service, dialer, max_concurrent=settings.callback_max_concurrent),
        archive=ArchiveJob(sessions, tickets, after=timedelta(days=settings.archive_after_days)),
        tick_seconds=settings.callback_tick_seconds,
    )
