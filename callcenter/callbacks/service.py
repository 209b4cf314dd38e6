"""The callbacks service: plans calls when tickets are done and turns call outcomes into ticket moves.

Satisfied -> the ticket is closed ("Заявитель подтвердил выполнение ..."); not satisfied ->
reopened to the same executor with the citizen's words (a spoken comment is attached as a
"comment" attachment); busy, no answer, failure -> retried per the policy, then
"unreachable" for a supervisor. A ticket is never closed without the citizen's word.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.callbacks.dialer import Dialer, DialOutcome, DialResult
from callcenter.callbacks.store import Application, CallbackNotFound, CallbackStore, ClaimedCall, OutcomeRecord
from callcenter.clock import Clock, utcnow
from callcenter.domain.callbacks import (
    IVR_RESULTS,
    OPERATOR_RESULTS,
    AttemptResult,
    CallbackMode,
    CallWindow,
    Decision,
)
from callcenter.domain.errors import DomainError, MissingField, ValidationError
from callcenter.domain.tickets import Actor, Role, Status
from callcenter.events import EventHub
from callcenter.tasks import supervise
from callcenter.tickets.schemas import TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

AUTO_ACTOR = Actor.system("автоматический обзвон")

_DIAL_RESULTS = {
    DialResult.BUSY: AttemptResult.BUSY,
    DialResult.NO_ANSWER: AttemptResult.NO_ANSWER,
    DialResult.FAILED: AttemptResult.FAILED,
    DialResult.NOT_SENT: AttemptResult.NOT_SENT,
    DialResult.UNKNOWN: AttemptResult.TIMED_OUT,
}


@dataclass(frozen=True)
class CallStart:
    """What the operator sees after pressing "Позвонить"."""

    phone: str
    dialling: bool  # True: their phone rings first, then the citizen's
    message: str


class CallbackService:
    """Planning, outcomes and staff actions; the dispatcher and the web call into it."""

    def __init__(
        self,
        store: CallbackStore,
        tickets: TicketService,
        *,
        default_mode: CallbackMode,
        lease: timedelta,
        data_dir: Path,
        users: Any = None,
        hub: EventHub | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.policy = store.policy
        self.default_mode = default_mode
        self.lease = lease
        self._tickets = tickets
        self._data_dir = Path(data_dir)
        self._users = users
        self._hub = hub
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()

    def now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ planning

    async def on_ticket_status(self, view: TicketView, from_status: Status, actor: Actor) -> None:
        """TicketService listener: plan a callback on "done"; forget tickets that left "done"."""
        try:
            if view.status is Status.DONE:
                await self.plan(view.id, view.last_change_at or self.now())
            elif from_status is Status.DONE:
                keep = view.status in (Status.CLOSED, Status.ARCHIVED)
                cancelled = await self.store.drop_ticket(view.id, self.now(), keep_duplicates=keep)
                for callback_id in cancelled:
                    self._publish(callback_id, "cancelled")
        except Exception:  # noqa: BLE001 - the move is committed; the reconcile tick plans it later
            logger.exception(
                "callback planning failed for ticket %s (%s -> %s)", view.number, from_status.value, view.status.value
            )

    async def plan(self, ticket_id: int, done_at: datetime) -> list[int]:
        """Plan the callbacks for one done ticket (idempotent)."""
        ids = await self.store.plan_for_done(ticket_id, done_at, self.default_mode, self.now())
        for callback_id in ids:
            self._publish(callback_id, "planned")
        return ids

    async def plan_missing(self, limit: int = 200) -> int:
        """Plan callbacks for done tickets that have none (a listener failure, a restart)."""
        missing = await self.store.tickets_missing_callback(limit)
        for ticket_id, done_at in missing:
            logger.info("planning a missed callback for ticket id %s (done %s)", ticket_id, done_at)
            await self.plan(ticket_id, done_at)
        return len(missing)

    # ------------------------------------------------------------------ automated calls

    async def record_dial_result(self, call: ClaimedCall, outcome: DialOutcome) -> OutcomeRecord | None:
        """The dispatcher's originate came back. Answered: the IVR reports later; else retry."""
        now = self.now()
        if outcome.result is DialResult.ANSWERED:
            await self.store.mark_answered(call.callback_id, call.action_id, now, self.lease, outcome.uniqueid)
            self._publish(call.callback_id, "answered")
            return None
        record = await self.store.record_dial_result(
            call, _DIAL_RESULTS[outcome.result], now, note=outcome.detail[:500] or None
        )
        await self._after(record, AUTO_ACTOR)
        return record

    async def release_expired(self) -> int:
        """Free claims whose lease ran out; returns how many."""
        records = await self.store.release_expired(self.now())
        for record in records:
            await self._after(record, AUTO_ACTOR)
        return len(records)

    async def record_ivr_outcome(
        self,
        *,
        ticket_number: str,
        callback_id: str | None,
        outcome: str,
        comment_recording: str | None,
        call_uniqueid: str,
    ) -> OutcomeRecord:
        """What the satisfaction IVR heard (see :class:`CallbackOutcomes`)."""
        try:
            result = AttemptResult(outcome)
        except ValueError as err:
            raise ValidationError(f"Неизвестный итог обратного звонка «{outcome}»", field="outcome") from err
        if result not in IVR_RESULTS:
            raise ValidationError(f"Итог «{outcome}» не может прийти из голосового меню", field="outcome")
        cid = await self._resolve(callback_id, ticket_number)
        record = await self.store.record_result(
            cid,
            result,
            self.now(),
            late_ok=True,
            mode=CallbackMode.AUTO,
            recording=self._relative(comment_recording) if comment_recording else None,
            call_uniqueid=call_uniqueid or None,
        )
        if record.decision is None:
            logger.info(
                "callback %s already finished; IVR outcome %s from %s kept only in the log", cid, outcome, call_uniqueid
            )
        await self._after(record, AUTO_ACTOR)
        return record

    async def _resolve(self, callback_id: str | None, ticket_number: str) -> int:
        text = (callback_id or "").strip()
        if text.isdigit():
            await self.store.get(int(text))  # raises CallbackNotFound
            return int(text)
        found = await self.store.find_for_ticket((ticket_number or "").strip())
        if found is None:
            raise CallbackNotFound(text or f"для заявки № {ticket_number}")
        return found

    def _relative(self, path: str) -> str:
        """Attachment paths are kept relative to the data folder when the file is inside it."""
        absolute = Path(os.path.abspath(path))
        try:
            return str(absolute.relative_to(Path(os.path.abspath(self._data_dir))))
        except ValueError:
            return str(path)

    # ------------------------------------------------------------------ operators

    async def take(self, callback_id: int, user: Any) -> None:
        """The operator takes a due callback for themselves (refused outside calling hours)."""
        cb = await self.store.get(callback_id)
        self._require_calling_hours(CallWindow(cb.window_start, cb.window_end))
        await self.store.take(callback_id, user.id, self.now(), self.lease)
        self._publish(callback_id, "taken")

    async def start_call(self, callback_id: int, user: Any, dialer: Dialer | None) -> CallStart:
        """Click-to-call: ring the operator's phone, then the citizen; or show the number to dial."""
        await self.take(callback_id, user)
        cb = await self.store.get(callback_id)
        if dialer is None or not dialer.available or not getattr(user, "device", None):
            reason = (
                "нет связи с АТС"
                if dialer is None or not dialer.available
                else "к вашей учётной записи не привязан телефон"
            )
            return CallStart(cb.phone, False, f"Позвоните заявителю вручную: {reason}")
        action_id, _ = await self.store.start_operator_attempt(callback_id, user.id, self.now())
        numbers = await self.store.numbers_of(callback_id)
        self._spawn(
            self._click_to_call(dialer, user.device, cb.phone, numbers, callback_id, action_id),
            f"click-to-call-{callback_id}",
        )
        return CallStart(cb.phone, True, "Сейчас зазвонит ваш телефон; после ответа будет набран номер заявителя")

    async def _click_to_call(
        self, dialer: Dialer, device: str, phone: str, numbers: tuple[str, ...], callback_id: int, action_id: str
    ) -> None:
        outcome = await dialer.click_to_call(
            operator_device=device, phone=phone, ticket_number=numbers[0] if numbers else None, action_id=action_id
        )
        if outcome.result is not DialResult.ANSWERED:
            # The operator's own phone did not take the call: not an attempt on the citizen.
            logger.info(
                "click-to-call %s for callback %s: %s %s", action_id, callback_id, outcome.result.value, outcome.detail
            )
            await self.store.cancel_attempt(
                callback_id, action_id, self.now(), note=f"телефон оператора: {outcome.result.value}"
            )

    async def record_operator_outcome(
        self, callback_id: int, user: Any, result: str, comment: str | None = None
    ) -> OutcomeRecord:
        """One click on the operators' list: satisfied, not satisfied (comment required), busy, no answer."""
        try:
            parsed = AttemptResult(result)
        except ValueError as err:
            raise ValidationError(f"Неизвестный итог звонка «{result}»", field="result") from err
        if parsed not in OPERATOR_RESULTS:
            raise ValidationError(f"Итог «{result}» нельзя отметить вручную", field="result")
        comment = (comment or "").strip() or None
        if parsed is AttemptResult.NOT_SATISFIED and not comment:
            raise MissingField("Запишите слова заявителя: почему он не удовлетворён выполнением", field="comment")
        await self.store.take(callback_id, user.id, self.now(), self.lease, require_due=False)
        record = await self.store.record_result(
            callback_id, parsed, self.now(), mode=CallbackMode.OPERATOR, operator_id=user.id, note=comment
        )
        await self._after(record, user.actor())
        return record

    def _require_calling_hours(self, window: CallWindow) -> None:
        if not self.policy.may_call(self.now(), window):
            raise DomainError(
                f"Сейчас звонить заявителям нельзя: часы обзвона {window} (по местному времени)",
                details={"window": str(window)},
            )

    # ------------------------------------------------------------------ supervisors

    async def retry_now(self, callback_id: int, actor: Actor) -> None:
        """A new round of attempts, as soon as calling hours allow."""
        cb = await self.store.get(callback_id)
        await self.store.reschedule(callback_id, self.now(), mode=CallbackMode(cb.mode))
        await self._note_tickets(callback_id, actor, f"Назначен повторный обратный звонок ({actor.name})")
        self._publish(callback_id, "planned")

    async def hand_to_operator(self, callback_id: int, actor: Actor) -> None:
        await self.store.reschedule(callback_id, self.now(), mode=CallbackMode.OPERATOR)
        await self._note_tickets(callback_id, actor, f"Обратный звонок передан операторам ({actor.name})")
        self._publish(callback_id, "planned")

    async def mark_unreachable(self, callback_id: int, actor: Actor) -> None:
        """Record "недозвон": the tickets stay done — closing without the citizen's word is not allowed."""
        cb = await self.store.give_up(callback_id, self.now())
        await self._note_tickets(
            callback_id,
            actor,
            f"Заявитель недоступен: обратный звонок не состоялся ({cb.attempts} попыт.). "
            f"Отмечено как недозвон ({actor.name}); заявка остаётся выполненной без подтверждения заявителя",
            note_kind="note",
        )
        self._publish(callback_id, "given_up")

    # ------------------------------------------------------------------ outcomes -> tickets

    async def _after(self, record: OutcomeRecord, actor: Actor) -> None:
        if record.decision is None:
            return
        self._publish(record.callback_id, record.decision.value)
        if record.decision is Decision.DONE:
            await self.apply_pending(callback_id=record.callback_id)
        elif record.decision is Decision.UNREACHABLE:
            await self._note_tickets(
                record.callback_id,
                AUTO_ACTOR,
                f"Не удалось дозвониться до заявителя ({record.attempts} попыт.): решение за руководителем смены",
            )

    async def apply_pending(self, limit: int = 100, callback_id: int | None = None) -> int:
        """Apply recorded outcomes to their tickets (also finishes what a crash interrupted)."""
        applications = await self.store.pending_applications(limit, callback_id)
        for application in applications:
            await self._apply(application)
        return len(applications)

    async def _apply(self, app: Application) -> None:
        actor = await self._actor(app.operator_id)
        decisive = app.via_number is None or not app.has_citizen or app.outcome is AttemptResult.NOT_SATISFIED
        try:
            if app.status is Status.DONE and decisive:
                if app.outcome is AttemptResult.SATISFIED:
                    await self._tickets.move(app.number, Status.CLOSED, actor, note=_confirmed_note(app, actor))
                else:
                    await self._reopen(app, actor)
            elif app.via_number is not None:
                await self._tickets.add_note(app.number, _duplicate_note(app), actor, public=False)
            else:
                logger.info(
                    "callback %s: ticket %s is %s now; outcome %s not applied",
                    app.callback_id,
                    app.number,
                    app.status.value,
                    app.outcome.value,
                )
        except DomainError as err:
            logger.warning(
                "callback %s: outcome %s not applied to ticket %s: %s",
                app.callback_id,
                app.outcome.value,
                app.number,
                err.message,
            )
        await self.store.mark_applied(app.callback_id, app.ticket_id, self.now())

    async def _reopen(self, app: Application, actor: Actor) -> None:
        if app.recording and not await self.store.has_attachment(app.ticket_id, app.recording):
            size = await asyncio.to_thread(_file_size, self._data_dir / app.recording)
            await self._tickets.add_attachment(
                app.number,
                kind="comment",
                path=app.recording,
                mime="audio/wav",
                size=size,
                sha256=None,
                public=False,
                actor=actor,
            )
        await self._tickets.move(app.number, Status.IN_PROGRESS, actor, note=_reopen_note(app), public=False)

    async def _actor(self, operator_id: int | None) -> Actor:
        if operator_id is None:
            return AUTO_ACTOR
        user = await self._users.get(operator_id) if self._users is not None else None
        if user is None:
            return Actor(role=Role.OPERATOR, name=f"оператор № {operator_id}", user_id=operator_id)
        return user.actor()

    async def _note_tickets(self, callback_id: int, actor: Actor, note: str, note_kind: str = "callback") -> None:
        for number in await self.store.numbers_of(callback_id, own_only=True):
            try:
                if note_kind == "note":
                    await self._tickets.add_note(number, note, actor, public=False)
                else:
                    await self._tickets.record_event(
                        number, "callback", actor, note=note, data={"callback": callback_id}
                    )
            except DomainError as err:
                logger.warning("callback %s: note on ticket %s not saved: %s", callback_id, number, err.message)

    # ------------------------------------------------------------------ housekeeping

    def _publish(self, callback_id: int, change: str) -> None:
        if self._hub is not None:
            self._hub.publish({"type": "callback", "id": callback_id, "change": change})

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        supervise(task, logger)

    async def wait_background(self, timeout: float) -> None:
        """Wait for click-to-call tasks (tests, shutdown); cancel what is still running then."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class CallbackOutcomes:
    """The callback half of the IVR's ``IvrBackend`` port: ``record_callback_outcome``."""

    def __init__(self, service: CallbackService) -> None:
        self._service = service

    async def record_callback_outcome(
        self,
        *,
        ticket_number: str,
        callback_id: str | None,
        outcome: str,
        comment_recording: str | None,
        call_uniqueid: str,
    ) -> None:
        """Store the outcome of a satisfaction call; bad input raises a DomainError and changes nothing."""
        await self._service.record_ivr_outcome(
            ticket_number=ticket_number,
            callback_id=callback_id,
            outcome=outcome,
            comment_recording=comment_recording,
            call_uniqueid=call_uniqueid,
        )


def _confirmed_note(app: Application, actor: Actor) -> str:
    how = "автоматический обзвон" if actor.role is Role.SYSTEM else f"звонок оператора {actor.name}"
    if app.via_number:
        return (
            f"Заявитель подтвердил выполнение при обратном звонке ({how}; сообщал о том же в заявке № {app.via_number})"
        )
    return f"Заявитель подтвердил выполнение при обратном звонке ({how})"


def _reopen_note(app: Application) -> str:
    words = app.comment or (
        "комментарий заявителя записан голосом (вложение)" if app.recording else "комментарий не оставлен"
    )
    source = f" (заявка-дубль № {app.via_number})" if app.via_number else ""
    return f"Заявитель не удовлетворён выполнением{source}: {words}"


def _duplicate_note(app: Application) -> str:
    if app.outcome is AttemptResult.SATISFIED:
        return f"Заявитель по заявке-дублю № {app.via_number} подтвердил выполнение при обратном звонке"
    return (
        f"Заявитель по заявке-дублю № {app.via_number} не удовлетворён выполнением: {app.comment or 'без комментария'}"
    )


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
