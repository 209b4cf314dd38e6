"""What citizens are told, when, and through which channel: pure rules, no I/O.

A ticket event may *trigger* a notification (registered, accepted, done, closed). Each
channel (e-mail, SMS) is used only with the consent recorded at intake (152-ФЗ), kept in the
ticket's ``extra["notify"]``. The texts are short, Russian, and never name staff; the same
texts (without links) are shown in the tracking page's history.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from callcenter.domain.errors import ValidationError
from callcenter.domain.tickets import Status

CONSENT_KEY = "notify"  # ticket.extra[CONSENT_KEY]
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]+\.[^@\s<>\"',;]{2,}$")
MAX_EMAIL = 200


class Trigger(enum.StrEnum):
    REGISTERED = "registered"
    ACCEPTED = "accepted"
    DONE = "done"
    CLOSED = "closed"


class NotifyChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time
    SENDING = "sending"  # claimed by one worker (lease)
    SENT = "sent"
    FAILED = "failed"  # gave up: shown to supervisors
    CANCELLED = "cancelled"  # unsubscribed before it went out


STATE_LABELS = {
    OutboxState.PENDING: "Ожидает отправки",
    OutboxState.SENDING: "Отправляется",
    OutboxState.SENT: "Отправлено",
    OutboxState.FAILED: "Не доставлено",
    OutboxState.CANCELLED: "Отменено (отписка)",
}
CHANNEL_LABELS = {NotifyChannel.EMAIL: "E-mail", NotifyChannel.SMS: "SMS"}


def trigger_for(
    kind: str, from_status: str | None, to_status: str | None, data: dict[str, Any] | None = None
) -> Trigger | None:
    """The notification a ticket event causes, if any (a reopen or a dispatch tells nothing).

    With the event's ``data``, a voice draft is registered when an operator confirms it (its
    ``edit`` event), not when the IVR made it (the outbox passes it). Without it every
    ``created`` event registers: the tracking page's history puts the notice beside
    «Обращение зарегистрировано» (the confirming edit is internal, so a draft's notice stays
    there, dated at the draft)."""
    if kind == "created":
        return None if (data or {}).get("draft") else Trigger.REGISTERED
    if confirms_draft(kind, data):
        return Trigger.REGISTERED
    if kind != "status" or to_status is None:
        return None
    if to_status == Status.IN_PROGRESS.value and from_status == Status.DISPATCHED.value:
        return Trigger.ACCEPTED
    if to_status == Status.DONE.value:
        return Trigger.DONE
    if to_status == Status.CLOSED.value:
        return Trigger.CLOSED
    return None


def confirms_draft(kind: str, data: dict[str, Any] | None) -> bool:
    """An ``edit`` event that confirmed a voice draft: the ticket is registered only now, so its
    «зарегистрирована» message (number and tracking link) is sent now (the draft's own
    ``created`` event sends nothing)."""
    changes = (data or {}).get("changes")
    return kind == "edit" and isinstance(changes, dict) and changes.get("is_draft") == [True, False]


@dataclass(frozen=True)
class Consent:
    """Which channels the citizen agreed to at intake, and where to."""

    email: str | None = None
    phone: str | None = None  # SMS to this number

    @classmethod
    def from_extra(cls, extra: dict[str, Any] | None, phone: str | None) -> Consent:
        record = (extra or {}).get(CONSENT_KEY)
        if not isinstance(record, dict):
            return cls()
        email = record.get("email") if isinstance(record.get("email"), str) else None
        sms = phone if record.get("sms") is True and phone else None
        return cls(email=email or None, phone=sms)

    def targets(self) -> list[tuple[NotifyChannel, str]]:
        found = []
        if self.email:
            found.append((NotifyChannel.EMAIL, self.email))
        if self.phone:
            found.append((NotifyChannel.SMS, self.phone))
        return found


def consent_record(*, email: str | None, sms: bool, via: str, at: datetime) -> dict[str, Any]:
    """What intake writes into ``extra["notify"]`` when the citizen ticked the box."""
    return {"email": email or None, "sms": bool(sms), "via": via, "at": at.isoformat()}


def check_email(raw: str) -> str:
    """A plausible e-mail address, trimmed; ValidationError otherwise."""
    text = (raw or "").strip()
    if len(text) > MAX_EMAIL or not _EMAIL.match(text):
        raise ValidationError(f"«{text[:60]}» не похож на адрес электронной почты", field="email")
    return text


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


def history_text(trigger: Trigger, number: str) -> str:
    """The message as the tracking page shows it (no links)."""
    return {
        Trigger.REGISTERED: f"Заявка № {number} зарегистрирована.",
        Trigger.ACCEPTED: f"Заявка № {number} принята в работу.",
        Trigger.DONE: f"Заявка № {number}: выполнено. Подтвердите, пожалуйста, что проблема устранена.",
        Trigger.CLOSED: f"Заявка № {number} закрыта. Спасибо!",
    }[trigger]


def compose(trigger: Trigger, number: str, *, track_url: str, answer_url: str | None, unsubscribe_url: str) -> Message:
    """The short text of one notification: the history text plus the link that belongs to it."""
    lines = [history_text(trigger, number)]
    if trigger is Trigger.REGISTERED:
        lines.append(f"Статус: {track_url}")
    elif trigger is Trigger.DONE and answer_url:
        lines.append(f"Ответить: {answer_url}")  # short: an SMS is paid per 67 characters
    lines.append(f"Отписаться: {unsubscribe_url}")
    subjects = {
        Trigger.REGISTERED: f"Заявка № {number} зарегистрирована",
        Trigger.ACCEPTED: f"Заявка № {number} принята в работу",
        Trigger.DONE: f"Заявка № {number}: выполнено",
        Trigger.CLOSED: f"Заявка № {number} закрыта",
    }
    return Message(subject=subjects[trigger] + " — 1563", text="\n".join(lines))


def retry_delay(attempts: int, schedule: list[int], max_attempts: int) -> timedelta | None:
    """Backoff after ``attempts`` failed sends: the schedule's minutes, its last repeated; None: give up."""
    if attempts >= max_attempts or not schedule:
        return None
    return timedelta(minutes=schedule[min(attempts - 1, len(schedule) - 1)])


class NoAnswerRule(enum.StrEnum):
    """What becomes of a done ticket the citizen confirmed neither by link nor by call."""

    SUPERVISORS = "supervisors"  # left done, listed for supervisors
    CLOSE = "close"  # closed as «нет ответа»


NO_ANSWER_NOTE = (
    "Заявитель не ответил ни по ссылке, ни на обратный звонок за {days} дн.: заявка закрыта как «нет ответа»"
)


# Staff notifications share the outbox with citizens' ones; their ``trigger`` column says which.
ESCALATION_TRIGGER = "escalation"
ESCALATION_EMAIL_KEY = "duty_email"  # in an escalation event's data: the address the step mails

# The ticket event kinds that can cause a notification ("edit": a voice draft's confirmation):
# the others (a call, a transcript, a callback attempt...) never do, so the outbox is not asked
# about them.
NOTIFYING_EVENT_KINDS = ("created", "status", "edit", ESCALATION_TRIGGER)


def compose_escalation(number: str, note: str, *, category: str, address: str, ticket_url: str) -> Message:
    """The e-mail an escalation step sends to the department's duty address (staff, not citizens:
    no unsubscribe link; no citizen's phone or name, the ticket page has them)."""
    lines = [
        note,
        "",
        f"Заявка № {number}: {category or 'категория не выбрана'}",
        f"Адрес: {address or 'не указан'}",
        f"Открыть заявку: {ticket_url}",
        "",
        "Письмо отправлено автоматически цепочкой эскалации 1563. Примите заявку в работу.",
    ]
    return Message(subject=f"Эскалация: заявка № {number} не принята вовремя — 1563", text="\n".join(lines))
