"""What citizens do with the links, and the no-answer rule.

Confirming by link closes the ticket exactly as the callback IVR's "1" does: the callbacks
feature applies a "satisfied" outcome with ``TicketService.move(number, CLOSED, <system
actor>, note=...)`` (callcenter/callbacks/service.py, ``_apply``), and so do we; the callbacks
feature's own ``on_status_change`` listener then cancels the planned callback (done ->
closed drops it). "Not fixed" reopens it (done -> in_progress) with the citizen's words and
photo, as the IVR's "2" does with a spoken comment.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.clock import Clock, utcnow
from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.notifications import NO_ANSWER_NOTE, NoAnswerRule
from callcenter.domain.tickets import STATUS_LABELS, Actor, Status
from callcenter.notifications.links import ANSWER, UNSUBSCRIBE, LinkClaims, LinkSigner
from callcenter.notifications.outbox import Outbox
from callcenter.portal.api import PhotoDecoder, PhotoStore, StoredPhoto
from callcenter.store import models as m
from callcenter.tickets.schemas import TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

LINK_ACTOR = Actor.system("ответ заявителя по ссылке")
NO_ANSWER_ACTOR = Actor.system("правило «нет ответа»")
MAX_COMMENT = 2000


@dataclass(frozen=True)
class AnswerPage:
    """What the answer page shows for a valid link."""

    number: str
    status: Status
    status_label: str
    can_answer: bool


class AnswerService:
    def __init__(
        self,
        tickets: TicketService,
        sessions: async_sessionmaker[AsyncSession],
        signer: LinkSigner,
        outbox: Outbox,
        photos: PhotoStore,
        decoder: PhotoDecoder,
        *,
        no_answer_days: int,
        no_answer_rule: NoAnswerRule,
        clock: Clock = utcnow,
    ) -> None:
        self.tickets = tickets
        self._sessions = sessions
        self.signer = signer
        self.outbox = outbox
        self._photos = photos
        self._decoder = decoder
        self._no_answer_days = no_answer_days
        self._no_answer_rule = no_answer_rule
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ the answer link

    def claims(self, token: str) -> LinkClaims:
        """The link's claims; BadLink / ExpiredLink (both DomainErrors) when it is not valid."""
        return self.signer.check(token, ANSWER, self.now())

    async def page(self, token: str) -> AnswerPage:
        claims = self.claims(token)
        view = (await self.tickets.detail(claims.number or "", include_internal=False)).ticket
        return AnswerPage(view.number, view.status, STATUS_LABELS[view.status], view.status is Status.DONE)

    async def answer(self, token: str, fixed: str, comment: str, photo: tuple[str, bytes] | None) -> TicketView:
        """Apply the citizen's answer; bad input raises a DomainError and changes nothing."""
        claims = self.claims(token)
        comment = comment.replace("\x00", "").strip()
        if fixed not in ("yes", "no"):
            raise ValidationError("Ответьте на вопрос: устранена ли проблема", field="fixed")
        if len(comment) > MAX_COMMENT:
            raise ValidationError(f"Комментарий слишком длинный: не более {MAX_COMMENT} знаков", field="comment")
        number = claims.number or ""
        page = await self.page(token)
        if not page.can_answer:
            raise DomainError(
                f"Заявка № {number} сейчас в статусе «{page.status_label}»: ответ уже не требуется",
                details={"status": page.status.value},
            )
        stored = await self._keep_photo(photo, number) if photo is not None else None
        if stored is not None:
            await self.tickets.add_attachment(
                number,
                kind="photo",
                path=stored.path,
                mime="image/jpeg",
                size=stored.size,
                sha256=stored.sha256,
                public=False,
                actor=LINK_ACTOR,
            )
        if fixed == "yes":
            note = "Заявитель подтвердил выполнение по ссылке из сообщения"
            if comment:
                note += f": {comment}"
            return await self.tickets.move(number, Status.CLOSED, LINK_ACTOR, note=note)
        words = comment or "комментарий не оставлен"
        return await self.tickets.move(
            number,
            Status.IN_PROGRESS,
            LINK_ACTOR,
            note=f"Заявитель не удовлетворён выполнением (ответ по ссылке): {words}",
            public=False,
        )

    async def _keep_photo(self, photo: tuple[str, bytes], number: str) -> StoredPhoto:
        name, data = photo
        clean = await self._decoder.clean(name, data)  # the app's bounded decode pool
        token = self._photos.new_token()
        pending = await asyncio.to_thread(self._photos.add_pending, token, name, clean)
        (stored,) = await asyncio.to_thread(self._photos.commit, token, [pending.id], self.now())
        logger.info("photo from the answer link kept for ticket %s", number)
        return stored

    # ------------------------------------------------------------------ unsubscribe

    def unsubscribe_claims(self, token: str) -> LinkClaims:
        return self.signer.check(token, UNSUBSCRIBE, self.now())

    async def unsubscribe(self, token: str) -> LinkClaims:
        claims = self.unsubscribe_claims(token)
        cancelled = await self.outbox.opt_out(claims.channel or "", claims.address or "", self.now())
        logger.info("%s address unsubscribed (%d waiting message(s) cancelled)", claims.channel, cancelled)
        return claims

    # ------------------------------------------------------------------ no answer

    async def unanswered(self, limit: int = 200) -> list[tuple[str, datetime]]:
        """Done tickets whose citizen has not answered within the configured days: (number, done at)."""
        cutoff = self.now() - timedelta(days=self._no_answer_days)
        done_at = (
            select(m.TicketEvent.ticket_id, func.max(m.TicketEvent.at).label("done_at"))
            .where(m.TicketEvent.kind == "status", m.TicketEvent.to_status == Status.DONE.value)
            .group_by(m.TicketEvent.ticket_id)
            .subquery()
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(m.Ticket.number, done_at.c.done_at)
                .join(done_at, done_at.c.ticket_id == m.Ticket.id)
                .where(m.Ticket.status == Status.DONE.value, done_at.c.done_at <= cutoff)
                .order_by(done_at.c.done_at)
                .limit(limit)
            )
            return [(number, at) for number, at in rows.all()]

    async def apply_no_answer(self) -> int:
        """The scheduled job: with the «close» rule, close each unanswered ticket as «нет ответа»."""
        if self._no_answer_rule is not NoAnswerRule.CLOSE:
            return 0
        closed = 0
        for number, _ in await self.unanswered():
            try:
                await self.tickets.move(
                    number, Status.CLOSED, NO_ANSWER_ACTOR, note=NO_ANSWER_NOTE.format(days=self._no_answer_days)
                )
                closed += 1
            except DomainError as err:
                logger.warning("no-answer rule: ticket %s not closed: %s", number, err.message)
        return closed
