"""Realistic Russian demo data: for trying the product (`seed-demo`) and for benchmarks.

`seed_demo` plays the last weeks of a city hotline through the real services, with a clock
that it moves itself: tickets arrive with the daily and weekly rhythm of 1563 (peaks late in
the morning and early in the evening, few at night, fewer at weekends; about 1,900 a week at
full scale), are dispatched within minutes, accepted within hours and done within hours or
days by their category's targets (some late, so the boards have breaches), and are then
called back: satisfied citizens close their ticket, unsatisfied ones reopen it, busy and
unanswered numbers are retried by the policy and some end unreachable. The calls that brought
the tickets in (answered, abandoned, inquiries that made no ticket) are written beside them.
Every move goes through the ticket service and the callbacks service, so the event history,
the timers and the callbacks are what the product itself would have written.

`bulk_rows` produces the same kind of tickets as plain rows, for the benchmark's million
tickets, where one service call per ticket would take hours.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tqdm import tqdm

from callcenter.domain.callbacks import AttemptResult, CallbackMode, CallbackPolicy, Decision
from callcenter.domain.errors import DomainError
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.reference import Category, ReferenceData, Street
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket

# What citizens actually write or say, per category; the category's description otherwise.
PHRASES: dict[str, list[str]] = {
    "water_leak": [
        "Порыв водопровода во дворе, вода бьёт из-под асфальта",
        "Течёт труба в подвале, заливает подъезд",
        "Из колодца хлещет вода уже второй час",
    ],
    "no_water": ["Нет холодной воды с утра во всём доме", "Третий день нет воды, никто не предупреждал"],
    "no_electricity": ["Отключили свет во всём доме", "Нет электричества в подъезде и квартирах с 8 утра"],
    "no_heating": ["Батареи холодные, в квартире 14 градусов", "Нет отопления во всём доме, дети мёрзнут"],
    "road_pothole": ["Огромная яма на проезжей части, машины пробивают колёса", "Провал асфальта у остановки"],
    "street_lighting": ["Не горят фонари на всей улице, темно и опасно", "Не работает уличное освещение возле школы"],
    "garbage": ["Мусор не вывозят неделю, контейнеры переполнены", "Контейнерная площадка завалена мусором"],
    "elevator": ["Не работает лифт, в доме пожилые люди", "Лифт застрял между этажами"],
}
GENERIC = ["Прошу принять меры.", "Обращаюсь повторно.", "Просьба разобраться как можно скорее.", ""]
# How often each category comes in December, relative to the rest (1).
CATEGORY_WEIGHTS = {
    "no_heating": 9,
    "water_leak": 7,
    "no_water": 6,
    "no_electricity": 6,
    "road_pothole": 4,
    "street_lighting": 5,
    "garbage": 5,
    "elevator": 4,
}

# Names: first names and surnames agree in gender («Сергей Иванов», «Анна Иванова»); a
# patronymic is made from the father's name in the citizen's gender.
MALE_FIRST = [
    "Александр",
    "Сергей",
    "Андрей",
    "Дмитрий",
    "Алексей",
    "Игорь",
    "Николай",
    "Владимир",
    "Иван",
    "Михаил",
    "Евгений",
    "Олег",
    "Виктор",
    "Юрий",
    "Павел",
    "Артём",
]
FEMALE_FIRST = [
    "Анна",
    "Елена",
    "Ольга",
    "Татьяна",
    "Наталья",
    "Ирина",
    "Светлана",
    "Мария",
    "Людмила",
    "Галина",
    "Екатерина",
    "Юлия",
    "Валентина",
    "Марина",
    "Оксана",
    "Дарья",
]
# (male, female) surname forms; some Ukrainian surnames do not change.
SURNAMES = [
    ("Иванов", "Иванова"),
    ("Петров", "Петрова"),
    ("Кузнецов", "Кузнецова"),
    ("Смирнов", "Смирнова"),
    ("Попов", "Попова"),
    ("Волков", "Волкова"),
    ("Морозов", "Морозова"),
    ("Соколов", "Соколова"),
    ("Лебедев", "Лебедева"),
    ("Козлов", "Козлова"),
    ("Новиков", "Новикова"),
    ("Сорокин", "Сорокина"),
    ("Ильин", "Ильина"),
    ("Ковалёв", "Ковалёва"),
    ("Захаров", "Захарова"),
    ("Белов", "Белова"),
    ("Жуковский", "Жуковская"),
    ("Вишневский", "Вишневская"),
    ("Шевченко", "Шевченко"),
    ("Бондаренко", "Бондаренко"),
    ("Ткаченко", "Ткаченко"),
    ("Мельник", "Мельник"),
]
# Father's name -> (patronymic of a son, of a daughter).
PATRONYMICS = {
    "Александр": ("Александрович", "Александровна"),
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Николай": ("Николаевич", "Николаевна"),
    "Владимир": ("Владимирович", "Владимировна"),
    "Иван": ("Иванович", "Ивановна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Виктор": ("Викторович", "Викторовна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
    "Павел": ("Павлович", "Павловна"),
    "Пётр": ("Петрович", "Петровна"),
}

# Share of a week's tickets per local hour (a city hotline: quiet at night, a late-morning peak,
# a lunch dip, a second peak after work) and per weekday (Monday busiest, Sunday quietest).
HOURLY = [
    0.9,
    0.6,
    0.45,
    0.4,
    0.45,
    0.8,
    1.8,
    3.6,
    5.6,
    7.0,
    7.6,
    7.4,
    6.4,
    5.9,
    5.9,
    6.1,
    6.6,
    7.1,
    7.0,
    5.8,
    4.4,
    3.2,
    2.2,
    1.4,
]
WEEKDAY = [1.12, 1.05, 1.0, 1.0, 0.97, 0.78, 0.62]
WEEKLY_VOLUME = 1900  # tickets a week at full scale (the real 1563: 1,800-2,000)
MIN_SPAN_DAYS = 7  # a smaller --tickets is a smaller city, not a shorter week

DEMO_ACTORS = {
    Role.OPERATOR: Actor(role=Role.OPERATOR, name="Оператор (демо)"),
    Role.SUPERVISOR: Actor(role=Role.SUPERVISOR, name="Руководитель смены (демо)"),
}
# Demo operators (accounts without a known password: an admin sets one to sign in as them).
DEMO_OPERATORS = [
    ("demo.melnik", "Оксана Мельник", "PJSIP/op1"),
    ("demo.kovalev", "Дмитрий Ковалёв", "PJSIP/op2"),
    ("demo.sorokina", "Елена Сорокина", "PJSIP/op3"),
]


@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    hard_to_reach: bool  # rarely answers: callbacks end unreachable


@dataclass(frozen=True)
class DemoSpec:
    data: NewTicket
    final_status: Status


def person_name(rng: random.Random) -> str:
    """A citizen's name as an operator writes it: «Имя Фамилия», sometimes «Фамилия Имя Отчество»."""
    female = rng.random() < 0.56
    first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
    surname = rng.choice(SURNAMES)[1 if female else 0]
    if rng.random() < 0.25:
        patronymic = rng.choice(list(PATRONYMICS.values()))[1 if female else 0]
        return f"{surname} {first} {patronymic}"
    return f"{first} {surname}"


def _phone(rng: random.Random) -> str:
    return f"+7978{rng.randrange(0, 10**7):07d}"


def _address(rng: random.Random, street: Street) -> tuple[str, str, str | None]:
    house = str(rng.randint(1, 180))
    flat = str(rng.randint(1, 120)) if rng.random() < 0.6 else None
    text = f"{street.name}, д. {house}" + (f", кв. {flat}" if flat else "")
    return text, house, flat


def _people(rng: random.Random, count: int) -> list[Person]:
    return [Person(person_name(rng), _phone(rng), rng.random() < 0.06) for _ in range(max(10, count * 4 // 5))]


def _new_ticket(rng: random.Random, reference: ReferenceData, person: Person) -> NewTicket:
    categories = list(reference.categories)
    category = rng.choices(categories, [CATEGORY_WEIGHTS.get(c.code, 1) for c in categories])[0]
    street = rng.choice(list(reference.streets))
    address, house, flat = _address(rng, street)
    text = rng.choice(PHRASES.get(category.code, [category.description])).rstrip(".")
    channel = rng.choices([Channel.PHONE, Channel.WEB, Channel.IVR, Channel.OPEN311], [58, 28, 10, 4])[0]
    return NewTicket(
        channel=channel,
        phone=person.phone,
        category=category.code,
        title=f"{category.name}: {street.name}",
        description=f"{text}. {rng.choice(GENERIC)}".strip(),
        address=address,
        street=street.name,
        house=house,
        flat=flat,
        district=street.district,
        lat=street.lat + rng.uniform(-0.002, 0.002),
        lon=street.lon + rng.uniform(-0.002, 0.002),
        citizen_name=person.name if rng.random() < 0.75 else None,
    )


def demo_specs(reference: ReferenceData, count: int, seed: int) -> Iterator[DemoSpec]:
    """Tickets across categories, channels and statuses (for the benchmarks' bulk rows)."""
    rng = random.Random(seed)
    statuses = [Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE, Status.CLOSED, Status.REJECTED]
    weights = [8, 10, 22, 15, 40, 5]
    people = _people(rng, count)
    for _ in range(count):
        yield DemoSpec(_new_ticket(rng, reference, rng.choice(people)), rng.choices(statuses, weights)[0])


PATH_TO: dict[Status, list[tuple[Status, str | None]]] = {
    Status.NEW: [],
    Status.DISPATCHED: [(Status.DISPATCHED, None)],
    Status.IN_PROGRESS: [(Status.DISPATCHED, None), (Status.IN_PROGRESS, None)],
    Status.DONE: [(Status.DISPATCHED, None), (Status.IN_PROGRESS, None), (Status.DONE, "Работы выполнены")],
    Status.CLOSED: [
        (Status.DISPATCHED, None),
        (Status.IN_PROGRESS, None),
        (Status.DONE, "Работы выполнены"),
        (Status.CLOSED, "Заявитель подтвердил выполнение по телефону"),
    ],
    Status.REJECTED: [(Status.REJECTED, "Не относится к компетенции городских служб")],
}


# ---------------------------------------------------------------------------- the rhythm


def span_days(count: int) -> int:
    """Days the demo covers: a week at least, more as the volume passes a week's worth."""
    return max(MIN_SPAN_DAYS, math.ceil(count * 7 / WEEKLY_VOLUME))


def arrival_times(
    rng: random.Random, count: int, now: datetime, zone: ZoneInfo, days: int | None = None
) -> list[datetime]:
    """``count`` moments in the last ``days`` before ``now``, with the hotline's rhythm, in order."""
    days = days or span_days(count)
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    slots: list[datetime] = []
    weights: list[float] = []
    slot = start
    while slot < now:
        local = slot.astimezone(zone)
        slots.append(slot)
        weights.append(WEEKDAY[local.weekday()] * HOURLY[local.hour])
        slot += timedelta(hours=1)
    latest = now - timedelta(seconds=30)
    moments = [min(s + timedelta(seconds=rng.uniform(0, 3600)), latest) for s in rng.choices(slots, weights, k=count)]
    return sorted(max(t, start) for t in moments)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def _working_hours(moment: datetime, zone: ZoneInfo, rng: random.Random) -> datetime:
    """Non-urgent work waits for the morning shift (08:00-21:00 local)."""
    local = moment.astimezone(zone)
    if 8 <= local.hour < 21:
        return moment
    morning = local.replace(hour=8, minute=0, second=0, microsecond=0)
    if local.hour >= 21:
        morning += timedelta(days=1)
    return morning.astimezone(UTC) + timedelta(minutes=_lognormal(rng, 40, 0.6))


# ---------------------------------------------------------------------------- the simulation


class DemoClock:
    """The services' clock during seeding: the moment the simulation is at."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class DemoHotline:
    """Plays tickets, calls and callbacks through the real services with a moving clock."""

    def __init__(self, services: Any, rng: random.Random, now: datetime, operators: Sequence[Any]) -> None:
        # The demo drives the callbacks feature too (through its public module); imported here so
        # that the benchmarks, which import this module for its ticket rows, load no feature.
        from callcenter.callbacks.api import CallbackService, CallbackStore
        from callcenter.tickets.service import TicketService

        self.services = services
        self.rng = rng
        self.end = now
        self.zone = services.settings.zone
        self.clock = DemoClock(now)
        self.tickets = TicketService(services.sessions, services.hub, zone=self.zone, clock=self.clock)
        policy = CallbackPolicy.from_settings(services.settings)
        self.callbacks = CallbackService(
            CallbackStore(services.sessions, policy),
            self.tickets,
            default_mode=CallbackMode.OPERATOR,
            lease=timedelta(seconds=services.settings.callback_lease_seconds),
            data_dir=services.settings.data_dir,
            users=services.users,
            hub=services.hub,
            clock=self.clock,
        )
        self.tickets.on_status_change.append(self.callbacks.on_ticket_status)
        self.operators = list(operators)
        self.recent: dict[str, str] = {}  # category -> the latest ticket number (duplicates point to it)
        self.calls: list[dict[str, Any]] = []
        self.hard_to_reach: dict[str, bool] = {}  # ticket number -> its citizen rarely answers

    def at(self, moment: datetime) -> bool:
        """Move the clock to ``moment``; False if that is still in the future."""
        if moment > self.end:
            return False
        self.clock.now = moment
        return True

    async def play(self, person: Person, data: NewTicket, created: datetime) -> Status:
        self.at(created)
        operator = self.rng.choice(self.operators)
        actor = operator.actor() if data.channel is Channel.PHONE else DEMO_ACTORS[Role.OPERATOR]
        view = await self.tickets.create(data, actor)
        self.hard_to_reach[view.number] = person.hard_to_reach
        if data.channel in (Channel.PHONE, Channel.IVR):
            self._call_for(view, data, created, operator)
        category = self.services.reference.category(data.category)
        duplicate_of = self.recent.get(category.code)
        self.recent[category.code] = view.number
        status = Status.NEW
        t = created
        roll = self.rng.random()
        if roll < 0.06:  # an operator sees it is a duplicate or not the city's business
            t += timedelta(minutes=_lognormal(self.rng, 4, 0.5))
            if not self.at(t):
                return status
            if duplicate_of and roll < 0.04:
                await self.tickets.move(
                    view.number,
                    Status.REJECTED,
                    actor,
                    duplicate_of=duplicate_of,
                    note="Повторное обращение по той же проблеме",
                )
            else:
                await self.tickets.move(
                    view.number,
                    Status.REJECTED,
                    actor,
                    note="Не относится к компетенции городских служб: заявителю дан телефон управляющей компании",
                )
            return Status.REJECTED
        return await self._work(view.number, category, t, actor)

    async def _work(self, number: str, category: Category, t: datetime, actor: Actor) -> Status:
        rng = self.rng
        urgent = category.priority == 1
        dispatch = _lognormal(rng, 45, 0.6) if rng.random() > 0.08 else rng.uniform(120, 1500)
        t += timedelta(seconds=dispatch * (2 if t.astimezone(self.zone).hour < 7 else 1))
        if not self.at(t):
            return Status.NEW
        await self.tickets.move(number, Status.DISPATCHED, actor, department=category.department)
        executor = Actor(
            role=Role.EXECUTOR,
            name=f"Диспетчер {self._department_name(category.department)}",
            department=category.department,
        )
        t += timedelta(minutes=_lognormal(rng, 0.45 * category.accept_target_minutes, 0.7))
        t = t if urgent else _working_hours(t, self.zone, rng)
        if not self.at(t):
            return Status.DISPATCHED
        await self.tickets.move(number, Status.IN_PROGRESS, executor)
        return await self._finish(number, category, t, executor, share=0.35)

    async def _finish(self, number: str, category: Category, t: datetime, executor: Actor, share: float) -> Status:
        rng = self.rng
        t += timedelta(hours=_lognormal(rng, share * category.done_target_hours, 0.8))
        t = t if category.priority == 1 else _working_hours(t, self.zone, rng)
        if not self.at(t):
            return Status.IN_PROGRESS
        await self.tickets.move(
            number, Status.DONE, executor, note=rng.choice(DONE_NOTES.get(category.code, DONE_NOTES["*"]))
        )
        return await self._call_back(number, category, executor)

    async def _call_back(self, number: str, category: Category, executor: Actor) -> Status:
        """Operators work the callback list: the policy decides retries and «недозвон»."""
        callback_id = await self.callbacks.store.find_for_ticket(number)
        if callback_id is None:
            return Status.DONE
        person_hard = self.hard_to_reach.get(number, False)
        cb = await self.callbacks.store.get(callback_id)
        t = _aware(cb.due_at) + timedelta(minutes=_lognormal(self.rng, 20, 0.7))
        while self.at(t):
            result = self._callback_result(person_hard)
            operator = self.rng.choice(self.operators)
            comment = self.rng.choice(UNSATISFIED) if result is AttemptResult.NOT_SATISFIED else None
            try:
                record = await self.callbacks.record_operator_outcome(callback_id, operator, result.value, comment)
            except DomainError:
                return (await self.tickets.get(number)).status
            if record.decision is Decision.RETRY and record.due_at is not None:
                t = _aware(record.due_at) + timedelta(minutes=_lognormal(self.rng, 10, 0.8))
                continue
            break
        status = (await self.tickets.get(number)).status
        if status is Status.IN_PROGRESS:  # reopened: the same executor goes back
            return await self._finish(number, category, self.clock.now, executor, share=0.2)
        return status

    def _callback_result(self, hard_to_reach: bool) -> AttemptResult:
        if hard_to_reach:
            return self.rng.choice([AttemptResult.BUSY, AttemptResult.NO_ANSWER, AttemptResult.NO_ANSWER])
        return self.rng.choices(
            [AttemptResult.SATISFIED, AttemptResult.NOT_SATISFIED, AttemptResult.BUSY, AttemptResult.NO_ANSWER],
            [72, 7, 8, 13],
        )[0]

    def _department_name(self, code: str) -> str:
        reference = self.services.reference
        return reference.department(code).short_name if reference.has_department(code) else code

    # -------------------------------------------------------------------- calls

    def _call_for(self, view: Any, data: NewTicket, created: datetime, operator: Any) -> None:
        """The call that brought the ticket: IVR, a wait in the queue, the talk with the operator."""
        rng = self.rng
        if data.channel is Channel.IVR:
            started = created - timedelta(seconds=rng.uniform(60, 150))
            self._add_call(started, data.phone, ivr=f"1>{data.category}>record", ended=created, ticket_id=view.id)
            return
        talk = _lognormal(rng, 210, 0.45)
        answered = created - timedelta(seconds=talk * rng.uniform(0.4, 0.8))
        queued = answered - timedelta(seconds=self._wait())
        started = queued - timedelta(seconds=rng.uniform(8, 25))
        self._add_call(
            started,
            data.phone,
            ivr="0",
            queued=queued,
            answered=answered,
            ended=answered + timedelta(seconds=talk),
            operator=operator,
            ticket_id=view.id,
        )

    def _wait(self) -> float:
        return _lognormal(self.rng, 25, 0.8)

    def _add_call(
        self,
        started: datetime,
        phone: str | None,
        *,
        ivr: str,
        ended: datetime,
        queued: datetime | None = None,
        answered: datetime | None = None,
        operator: Any = None,
        ticket_id: int | None = None,
        abandoned: bool = False,
    ) -> None:
        ended = min(ended, self.end)
        self.calls.append(
            {
                "linkedid": f"demo-{secrets.token_hex(8)}",
                "direction": "in",
                "caller": phone,
                "started_at": started,
                "queued_at": queued,
                "answered_at": answered,
                "ended_at": ended,
                "queue": "1563" if queued else None,
                "agent_interface": operator.device if operator is not None and answered else None,
                "operator_id": operator.id if operator is not None and answered else None,
                "ivr_path": ivr,
                "hangup_cause": "Normal Clearing",
                "abandoned": abandoned,
                "ticket_id": ticket_id,
                "data": {},
            }
        )

    def calls_without_tickets(self, people: Sequence[Person], moments: Sequence[datetime]) -> None:
        """Status inquiries, advice, and callers who hung up in the queue."""
        rng = self.rng
        for moment in moments:
            phone = rng.choice(people).phone
            kind = rng.random()
            if kind < 0.3:  # abandoned in the queue, mostly at the peaks
                queued = moment + timedelta(seconds=rng.uniform(8, 25))
                self._add_call(
                    moment,
                    phone,
                    ivr="0",
                    queued=queued,
                    abandoned=True,
                    ended=queued + timedelta(seconds=_lognormal(rng, 70, 0.7)),
                )
            elif kind < 0.55:  # ticket status by keypad, no operator
                self._add_call(moment, phone, ivr="2>status", ended=moment + timedelta(seconds=rng.uniform(30, 90)))
            else:  # advice from an operator, no ticket
                operator = rng.choice(self.operators)
                queued = moment + timedelta(seconds=rng.uniform(8, 25))
                answered = queued + timedelta(seconds=self._wait())
                self._add_call(
                    moment,
                    phone,
                    ivr="0",
                    queued=queued,
                    answered=answered,
                    operator=operator,
                    ended=answered + timedelta(seconds=_lognormal(rng, 150, 0.5)),
                )

    async def write_calls(self) -> int:
        calls = [c for c in self.calls if c["started_at"] <= self.end]
        async with self.services.sessions.begin() as session:
            for start in range(0, len(calls), 500):
                session.add_all([m.Call(**c) for c in calls[start : start + 500]])
        return len(calls)


DONE_NOTES = {
    "water_leak": [
        "Заменён участок трубы, подача воды восстановлена",
        "Устранён порыв, асфальт восстановим по графику",
    ],
    "no_water": ["Подача воды восстановлена после ремонта насосной станции"],
    "no_electricity": ["Заменён предохранитель на вводе, электроснабжение восстановлено"],
    "no_heating": ["Стравлен воздух из стояка, отопление восстановлено", "Заменена задвижка в тепловом узле"],
    "road_pothole": ["Яма заделана холодным асфальтом"],
    "street_lighting": ["Заменены лампы в светильниках, освещение работает"],
    "garbage": ["Мусор вывезен, площадка убрана"],
    "elevator": ["Лифт отремонтирован и запущен"],
    "*": ["Работы выполнены", "Выполнено силами бригады"],
}
UNSATISFIED = [
    "Вода снова течёт, ничего не сделали",
    "Сделали только наполовину, мусор остался",
    "Батареи по-прежнему холодные",
    "Фонарь опять не горит",
]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def demo_operators(services: Any) -> list[Any]:
    """The demo operators' accounts (made once; their password is random and never shown)."""
    users = []
    for login, name, device in DEMO_OPERATORS:
        user = await services.users.by_login(login)
        if user is None:
            user = await services.users.create(
                login, secrets.token_urlsafe(24), Role.OPERATOR, full_name=name, device=device
            )
        users.append(user)
    return users


async def seed_demo(
    services: Any, *, count: int, seed: int, progress: bool = False, now: datetime | None = None
) -> int:
    """Play ``count`` tickets over the weeks before ``now`` (default: this moment); returns how many."""
    rng = random.Random(seed)
    end = now or datetime.now(UTC)
    people = _people(rng, count)
    hotline = DemoHotline(services, rng, end, await demo_operators(services))
    zone = services.settings.zone
    days = span_days(count)
    created = 0
    bar = tqdm(total=count, desc="demo tickets", unit="заявка", disable=not progress)
    try:
        for moment in arrival_times(rng, count, end, zone, days):
            person = rng.choice(people)
            await hotline.play(person, _new_ticket(rng, services.reference, person), moment)
            created += 1
            bar.update(1)
        hotline.calls_without_tickets(people, arrival_times(rng, count * 2 // 5, end, zone, days))
        await hotline.write_calls()
    finally:
        bar.close()
    return created


def bulk_rows(
    reference: ReferenceData,
    count: int,
    seed: int,
    start_id: int,
    year: int,
    start: datetime | None = None,
    step: timedelta | None = None,
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(ticket row, event rows) pairs with ids assigned, ``step`` apart from ``start``, for bulk loading.

    Without ``start``/``step`` they spread over the year ``year``; the benchmarks pass a start in
    the past and the real service's pace (bench/bulk.py: about 50,000 a year, the newest now).
    """
    start = start or datetime(year, 1, 1, tzinfo=UTC)
    step = step or timedelta(days=364) / max(count, 1)
    for i, spec in enumerate(demo_specs(reference, count, seed)):
        tid = start_id + i
        created = start + step * i
        d = spec.data
        ticket = {
            "id": tid,
            "number": f"{year % 100:02d}{tid:05d}",
            "channel": d.channel.value,
            "status": spec.final_status.value,
            "is_draft": False,
            "category_code": d.category,
            "department_code": reference.category(d.category).department if d.category else None,
            "title": d.title,
            "description": d.description,
            "address": d.address,
            "street": d.street,
            "house": d.house,
            "flat": d.flat,
            "district": d.district,
            "lat": d.lat,
            "lon": d.lon,
            "created_at": created,
            "updated_at": created,
            "version": 1,
            "extra": {},
            "phone": d.phone,
        }
        events = [
            {
                "ticket_id": tid,
                "at": created,
                "kind": "created",
                "actor_name": "bulk",
                "actor_role": "system",
                "from_status": None,
                "to_status": "new",
                "note": None,
                "public": True,
                "data": {},
            }
        ]
        previous = "new"
        for n, (to, note) in enumerate(PATH_TO[spec.final_status], start=1):
            events.append(
                {
                    "ticket_id": tid,
                    "at": created + timedelta(minutes=7 * n),
                    "kind": "status",
                    "actor_name": "bulk",
                    "actor_role": "system",
                    "from_status": previous,
                    "to_status": to.value,
                    "note": note,
                    "public": True,
                    "data": {},
                }
            )
            previous = to.value
        yield ticket, events
