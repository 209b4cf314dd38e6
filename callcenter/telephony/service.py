"""The telephony slice put together: AMI link -> call tracker -> call rows, screen pops, live board.

::

    Asterisk --AMI--> AmiLink reader --(bounded queue)--> TrackerFeed task --> CallTracker
                                                                  | notifications
                                            Telephony.publish() (memory only, never waits)
                        +--------------------------+----------------------+---------------+
                        v                          v                      v               v
               CallWriter queue             PopService tasks      BoardPublisher     "call" messages
               (writer task, retries)       (history per call)    (<= 2 per second)
                        v                          v                      v               v
                  calls table                  EventHub -----> /ws (staff.live) -> browsers
                                                   |
                                           PgHubBridge (NOTIFY) -> other app instances

The AMI reader only parses and hands frames to bounded queues; everything slow (the
database, browsers) is behind a queue of its own, so Asterisk (which drops a client
that stops reading for ``writetimeout`` ms) never waits on them.

Click-to-call (:class:`ClickToCall`) reserves the call's row before it dials, so one
form submitted twice (double click, reconnect, another instance) dials once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from callcenter.accounts.users import UserView
from callcenter.config import Settings
from callcenter.domain.calls import (
    CallAbandoned,
    CallEnded,
    CallNotification,
    LiveBoard,
    Notification,
    OperatorRinging,
    OperatorRingingStopped,
    OriginateOutcome,
    OriginateResult,
)
from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.phones import format_phone
from callcenter.telephony.ami import AmiLink, AmiSettings, LinkState, LinkStatus, TrackerFeed
from callcenter.telephony.calls_store import CallStore, CallWriter, OperatorDirectory
from callcenter.telephony.notify import BoardCache, BoardPublisher, CallWording, call_message, empty_board
from callcenter.telephony.originate import InvalidOriginate, channel_id_for, click_to_call
from callcenter.telephony.pops import PopService
from callcenter.telephony.tracker import CallTracker
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

CALL_KEY = re.compile(r"c2c-[0-9a-f]{20}")
_LEG_MEMORY = 20_000  # live calls whose leg uniqueids we keep (far above any real load)


def ami_settings(settings: Settings) -> AmiSettings:
    """The link's settings from the application's."""
    return AmiSettings(
        host=settings.ami_host or None, port=settings.ami_port, username=settings.ami_username,
        secret=settings.ami_secret, ping_interval=settings.ami_ping_interval,
        action_timeout=settings.ami_action_timeout,
    )


def new_call_key() -> str:
    """An idempotency key for one click-to-call form (rendered into the page)."""
    return "c2c-" + secrets.token_hex(10)


# --- the tracker, with the uniqueids of each call's legs -------------------------------


class IndexedTracker:
    """A :class:`CallTracker` that also remembers every live call's leg uniqueids.

    A voice report names the IVR leg's uniqueid (``extra["call_uniqueid"]``), which in a
    Local-channel setup is not the Linkedid; the screen pop matches drafts by these.
    TrackerFeed drives it exactly like the tracker it wraps.
    """

    EVENTS = CallTracker.EVENTS

    def __init__(self, tracker: CallTracker | None = None) -> None:
        self.tracker = tracker or CallTracker()
        self._legs: OrderedDict[str, set[str]] = OrderedDict()

    def uniqueids(self, linkedid: str) -> frozenset[str]:
        return frozenset(self._legs.get(linkedid, ()))

    def feed(self, event: Mapping[str, str]) -> list[Notification]:
        if event.get("Event") == "Newchannel":
            self._note_leg(event)
        return self._forget_ended(self.tracker.feed(event))

    def begin_resync(self) -> None:
        self.tracker.begin_resync()

    def reconcile_channels(self, channels: Iterable[Mapping[str, str]]) -> list[Notification]:
        channels = list(channels)
        for item in channels:
            self._note_leg(item)
        return self._forget_ended(self.tracker.reconcile_channels(channels))

    def reconcile_queues(self, members: Iterable[Mapping[str, str]],
                         entries: Iterable[Mapping[str, str]]) -> list[Notification]:
        return self.tracker.reconcile_queues(members, entries)

    def snapshot(self) -> LiveBoard:
        return self.tracker.snapshot()

    def _note_leg(self, event: Mapping[str, str]) -> None:
        uniqueid = event.get("Uniqueid")
        if not uniqueid:
            return
        linkedid = event.get("Linkedid") or uniqueid
        self._legs.setdefault(linkedid, set()).add(uniqueid)
        if len(self._legs) > _LEG_MEMORY:
            self._legs.popitem(last=False)

    def _forget_ended(self, notes: list[Notification]) -> list[Notification]:
        for note in notes:
            if isinstance(note, CallEnded):
                self._legs.pop(note.linkedid, None)
        return notes


# --- the live side ----------------------------------------------------------------------


class Telephony:
    """AMI link + tracker + consumers (rows, pops, board), started and closed together."""

    def __init__(self, link: AmiLink, *, hub: Any, users: Any, sessions: Any, tickets: TicketService,
                 reference: Any) -> None:
        self.link = link
        self.tracker = IndexedTracker(CallTracker())
        self.directory = OperatorDirectory(users)
        self.store = CallStore(sessions)
        self.writer = CallWriter(self.store, self.directory)
        self.wording = CallWording(reference)
        self.pops = PopService(hub, tickets, self.directory, reference, self.wording)
        self.board = BoardPublisher(hub, self.tracker.snapshot, lambda: self.link.state.value, self.wording)
        self.feed = TrackerFeed(self.link, self.tracker, self.publish)
        self._hub = hub
        self._missed: OrderedDict[str, None] = OrderedDict()
        self._link_items = self.link.subscribe(events=(), maxsize=64, name="telephony-link")
        self._watcher: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start every consumer, then the link (which connects in the background)."""
        self._refresher = asyncio.create_task(self._refresh_operators(), name="telephony-operators")
        self._refresher.add_done_callback(_log_task_failure)
        await self.writer.start()
        await self.board.start()
        await self.feed.start()
        self._watcher = asyncio.create_task(self._watch_link(), name="telephony-link-watch")
        self._watcher.add_done_callback(_log_task_failure)
        await self.link.start()

    async def close(self) -> None:
        await self.feed.close()
        await self.link.close()
        for task in (self._watcher, self._refresher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.pops.close()
        await self.board.close()
        await self.writer.close()

    async def publish(self, notes: list[Notification]) -> None:
        """TrackerFeed's consumer: hand each notification on. Memory only; never waits.

        It does yield once: TrackerFeed drains its whole backlog without a pause when
        events come in bursts (a resync, a busy minute), and the pops it just published
        must reach the browsers meanwhile.
        """
        self._hand_on(notes)
        await asyncio.sleep(0)

    def _hand_on(self, notes: list[Notification]) -> None:
        for note in notes:
            if isinstance(note, CallNotification):
                self.writer.offer(note.call)
            if isinstance(note, OperatorRinging):
                self.pops.ringing(note, self.tracker.uniqueids(note.linkedid))
            elif isinstance(note, OperatorRingingStopped):
                self.pops.stopped(note)
            elif isinstance(note, CallEnded):
                self.pops.ended(note)
                self._hub.publish(call_message("ended", note.call, self.wording))
            if isinstance(note, (CallAbandoned, CallEnded)) and note.call.needs_callback:
                self._publish_missed(note)
        self.board.changed()

    def _publish_missed(self, note: CallNotification) -> None:
        if note.linkedid in self._missed:
            return  # CallAbandoned, then CallEnded: one missed call
        self._missed[note.linkedid] = None
        if len(self._missed) > 1000:
            self._missed.popitem(last=False)
        self._hub.publish(call_message("missed", note.call, self.wording))

    async def _refresh_operators(self) -> None:
        """Keep the interface -> operator map in memory (a device changed shows within the period)."""
        while True:
            try:
                await self.directory.refresh()
            except Exception as err:  # noqa: BLE001 - database down: the old map stays, try later
                logger.warning("operators' devices not refreshed (%s): keeping the previous map", err)
            await asyncio.sleep(self.directory.REFRESH_SECONDS)

    async def _watch_link(self) -> None:
        async for item in self._link_items:
            if isinstance(item, LinkStatus):
                self.board.changed()


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s failed", task.get_name(), exc_info=task.exception())


# --- click-to-call ----------------------------------------------------------------------


class TelephonyUnavailable(DomainError):
    """No AMI link (off or down): nothing was dialled."""

    code = "telephony_unavailable"


OUTCOME_TEXT = {
    OriginateOutcome.ANSWERED: "вызов принят, АТС соединяет с заявителем",
    OriginateOutcome.BUSY: "занято",
    OriginateOutcome.NO_ANSWER: "нет ответа",
    OriginateOutcome.FAILED: "вызов не удался (номер недоступен или набран неверно)",
    OriginateOutcome.CONGESTION: "линия перегружена, попробуйте позже",
    OriginateOutcome.HUNG_UP: "вызов сброшен",
    OriginateOutcome.REJECTED: "АТС отказала в вызове, сообщите администратору",
    OriginateOutcome.NOT_SENT: "нет связи с АТС, ничего не набрано",
    OriginateOutcome.TIMED_OUT: "АТС не сообщила результат вызова",
    OriginateOutcome.IN_PROGRESS: "этот звонок уже выполняется",
}
DISABLED_TEXT = "Телефония отключена: звонки из программы не настроены. Позвоните заявителю со своего телефона."
DOWN_TEXT = "Нет связи с АТС: звонок не выполнен, ничего не набрано. Повторите через минуту."


@dataclass(frozen=True, slots=True)
class DialReport:
    """What became of one click-to-call, for the page and the JSON answer."""

    outcome: str
    message: str
    repeated: bool = False  # this form was submitted before: not dialled again

    def as_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "message": self.message, "repeated": self.repeated}


class ClickToCall:
    """Dial a ticket's citizen from the operator's phone: operator first, then the citizen."""

    def __init__(self, link: AmiLink | None, store: CallStore, tickets: TicketService, *,
                 dial_context: str, ring_timeout: float = 30.0) -> None:
        self._link = link
        self._store = store
        self._tickets = tickets
        self._dial_context = dial_context
        self._ring_timeout = ring_timeout

    async def place(self, number: str, user: UserView, key: str) -> DialReport:
        """Dial once per ``key``; record the outcome on the ticket as a "call" event."""
        if not CALL_KEY.fullmatch(key or ""):
            raise ValidationError("Форма звонка устарела: обновите страницу и нажмите «Позвонить» ещё раз",
                                  field="call_key")
        self._check_link()
        if not user.device:
            raise ValidationError("Для вашей учётной записи не указан телефон (устройство): "
                                  "попросите администратора указать его", field="device")
        ticket = await self._tickets.get(number)
        if not ticket.phone:
            raise ValidationError("В заявке нет телефона заявителя: звонить некуда", field="phone")
        linkedid = channel_id_for(key)
        try:
            request = click_to_call(key, operator_interface=user.device, citizen_number=ticket.phone,
                                    dial_context=self._dial_context, ticket_id=number,
                                    ring_timeout=self._ring_timeout)
        except InvalidOriginate as err:
            raise ValidationError(f"Звонок невозможен: {err}", field="device") from err
        claimed = await self._store.claim_outbound(
            linkedid, caller=ticket.phone, ticket_id=ticket.id, operator_id=user.id, interface=user.device,
            request_id=key, now=datetime.now(UTC))
        if not claimed:
            return await self._repeated(linkedid, ticket.id)
        return await self._dial(request, number, ticket.phone, user)

    def _check_link(self) -> None:
        if self._link is None or self._link.state is LinkState.DISABLED:
            raise TelephonyUnavailable(DISABLED_TEXT)
        if self._link.state is not LinkState.CONNECTED:
            raise TelephonyUnavailable(DOWN_TEXT)

    async def _repeated(self, linkedid: str, ticket_id: int) -> DialReport:
        claim = await self._store.outbound(linkedid)
        if claim is None or claim.ticket_id != ticket_id:
            raise ValidationError("Форма звонка устарела: обновите страницу", field="call_key")
        outcome = claim.outcome or OriginateOutcome.IN_PROGRESS.value
        text = OUTCOME_TEXT.get(_outcome(outcome), outcome)
        return DialReport(outcome, f"Этот звонок уже был сделан: {text}. Повторно не набираем.", repeated=True)

    async def _dial(self, request: Any, number: str, phone: str, user: UserView) -> DialReport:
        linkedid = channel_id_for(request.request_id)
        result = await self._link.originate(request)  # type: ignore[union-attr]
        logger.info("click-to-call %s (ticket %s, %s): %s %s", request.request_id, number, user.login,
                    result.outcome.value, result.detail)
        if not result.outcome.may_have_dialled:
            await self._store.release_outbound(linkedid)
            if result.outcome is OriginateOutcome.NOT_SENT:
                raise TelephonyUnavailable(DOWN_TEXT)
        else:
            answered = result.outcome in (OriginateOutcome.ANSWERED, OriginateOutcome.IN_PROGRESS)
            await self._store.finish_outbound(linkedid, result.outcome.value, result.detail,
                                              datetime.now(UTC), answered)
        text = OUTCOME_TEXT[result.outcome]
        await self._tickets.record_event(
            number, "call", user.actor(), note=f"Звонок заявителю {format_phone(phone)}: {text}",
            data=_event_data(result, request.request_id, linkedid, user), public=False)
        return DialReport(result.outcome.value, f"Звонок заявителю {format_phone(phone)}: {text}.",
                          repeated=result.repeated)


def _outcome(value: str) -> OriginateOutcome | str:
    try:
        return OriginateOutcome(value)
    except ValueError:
        return value


def _event_data(result: OriginateResult, key: str, linkedid: str, user: UserView) -> dict[str, Any]:
    return {"direction": "out", "kind": "click_to_call", "outcome": result.outcome.value,
            "reason": result.reason, "request_id": key, "linkedid": linkedid, "device": user.device}


# --- wiring -----------------------------------------------------------------------------


@dataclass
class TelephonySlice:
    """What the telephony pages need; ``live`` is None while AMI is off."""

    live: Telephony | None
    calls: CallStore
    board_cache: BoardCache
    dialer: ClickToCall

    def board(self) -> dict[str, Any]:
        """The newest live board: our own, else the last one another instance sent."""
        if self.live is not None:
            return self.live.board.current()
        return self.board_cache.latest or empty_board("disabled")


TELEPHONY = web.AppKey("telephony", TelephonySlice)
