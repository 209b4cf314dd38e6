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
                  calls table                  EventHub -----> /ws (web.live) -> browsers
                                                   |
                                           PgHubBridge (NOTIFY) -> other app instances

The AMI reader only parses and hands frames to bounded queues; everything slow (the
database, browsers) is behind a queue of its own, so Asterisk (which drops a client
that stops reading for ``writetimeout`` ms) never waits on them.

Click-to-call lives in click_to_call.py, screen pops in pops.py, the /ws messages in
board_messages.py; this module only puts them together (and feature.py adds them to the app).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from callcenter.config import Settings
from callcenter.domain.calls import (
    CallAbandoned,
    CallEnded,
    CallNotification,
    LiveBoard,
    Notification,
    OperatorRinging,
    OperatorRingingStopped,
)
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.telephony.ami_link import AmiLink, AmiSettings, LinkStatus
from callcenter.telephony.board_messages import BoardCache, BoardPublisher, CallWording, call_message, empty_board
from callcenter.telephony.calls_store import CallStore, CallWriter, OperatorDirectory
from callcenter.telephony.click_to_call import ClickToCall
from callcenter.telephony.pops import PopService
from callcenter.telephony.tracker import CallTracker
from callcenter.telephony.tracker_feed import TrackerFeed
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

_LEG_MEMORY = 20_000  # live calls whose leg uniqueids we keep (far above any real load)


def ami_settings(settings: Settings) -> AmiSettings:
    """The link's settings from the application's."""
    return AmiSettings(
        host=settings.ami_host or None,
        port=settings.ami_port,
        username=settings.ami_username,
        secret=settings.ami_secret,
        ping_interval=settings.ami_ping_interval,
        action_timeout=settings.ami_action_timeout,
    )


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

    def reconcile_queues(
        self,
        members: Iterable[Mapping[str, str]],
        entries: Iterable[Mapping[str, str]],
        params: Iterable[Mapping[str, str]] = (),
    ) -> list[Notification]:
        return self.tracker.reconcile_queues(members, entries, params)

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

    def __init__(
        self,
        link: AmiLink,
        *,
        hub: Any,
        users: Any,
        sessions: Any,
        tickets: TicketService,
        reference: Any,
        incidents: Any = None,  # async ({phone: tickets}) -> {phone: active incidents at their addresses}, for pops
    ) -> None:
        self.link = link
        self.tracker = IndexedTracker(CallTracker())
        self.directory = OperatorDirectory(users)
        self.store = CallStore(sessions)
        self.writer = CallWriter(self.store, self.directory)
        self.wording = CallWording(reference)
        self.pops = PopService(hub, tickets, self.directory, reference, self.wording, incidents=incidents)
        self.board = BoardPublisher(hub, self.tracker.snapshot, lambda: self.link.state.value, self.wording)
        self.feed = TrackerFeed(self.link, self.tracker, self.publish)
        self._hub = hub
        self._missed: OrderedDict[str, None] = OrderedDict()
        self._link_items = self.link.subscribe(events=(), maxsize=64, name="telephony-link")
        self._watcher: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._voice = hub.subscribe(lambda m: m.get("type") == "voice_live", maxsize=512)
        self._voice_reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start every consumer, then the link (which connects in the background)."""
        self._refresher = start_task(self._refresh_operators(), name="telephony-operators", logger=logger)
        await self.writer.start()
        await self.board.start()
        await self.feed.start()
        self._watcher = start_task(self._watch_link(), name="telephony-link-watch", logger=logger)
        self._voice_reader = start_task(self._follow_voice(), name="telephony-voice-live", logger=logger)
        await self.link.start()

    async def close(self) -> None:
        await self.feed.close()
        await self.link.close()
        await cancel_and_wait(self._watcher, self._refresher, self._voice_reader)
        self._voice.close()
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

    async def _follow_voice(self) -> None:
        """Live transcripts (AudioSocket) into the pops of phones ringing for that call."""
        while True:
            self.pops.voice_live(await self._voice.get())

    async def _watch_link(self) -> None:
        async for item in self._link_items:
            if isinstance(item, LinkStatus):
                self.board.changed()


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
