"""Realistic Russian demo tickets: for trying the product (`seed-demo`) and for benchmarks.

`seed_demo` goes through the ticket service, so every ticket obeys the lifecycle rules and
has a real event history. `bulk_rows` produces the same kind of data as plain rows, for
the benchmark's million tickets, where one service call per ticket would take hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.reference import ReferenceData, Street
from callcenter.tickets.schemas import NewTicket

# What citizens actually write or say, per category; {addr} is filled with the address.
PHRASES: dict[str, list[str]] = {
    "water_leak": ["Порыв водопровода во дворе, вода бьёт из-под асфальта", "Течёт труба в подвале, заливает подъезд",
                   "Из колодца хлещет вода уже второй час"],
    "no_water": ["Нет холодной воды с утра во всём доме", "Третий день нет воды, никто не предупреждал"],
    "no_electricity": ["Отключили свет во всём доме", "Нет электричества в подъезде и квартирах с 8 утра"],
    "no_heating": ["Батареи холодные, в квартире 14 градусов", "Нет отопления во всём доме, дети мёрзнут"],
    "road_pothole": ["Огромная яма на проезжей части, машины пробивают колёса", "Провал асфальта у остановки"],
    "street_lighting": ["Не горят фонари на всей улице, темно и опасно", "Не работает уличное освещение возле школы"],
    "garbage": ["Мусор не вывозят неделю, контейнеры переполнены", "Контейнерная площадка завалена мусором"],
    "elevator": ["Не работает лифт, в доме пожилые люди", "Лифт застрял между этажами"],
}
GENERIC = ["Прошу принять меры", "Обращаюсь повторно", "Просьба разобраться как можно скорее"]
FIRST_NAMES = ["Анна", "Иван", "Мария", "Сергей", "Ольга", "Дмитрий", "Елена", "Андрей", "Татьяна", "Николай"]
LAST_NAMES = ["Иванова", "Петров", "Сидорова", "Кузнецов", "Смирнова", "Попов", "Волкова", "Морозов"]
DEMO_ACTORS = {
    Role.OPERATOR: Actor(role=Role.OPERATOR, name="Оператор (демо)"),
    Role.SUPERVISOR: Actor(role=Role.SUPERVISOR, name="Руководитель смены (демо)"),
}


@dataclass(frozen=True)
class DemoSpec:
    data: NewTicket
    final_status: Status


def _phone(rng: random.Random) -> str:
    return f"+7978{rng.randrange(0, 10**7):07d}"


def _address(rng: random.Random, street: Street) -> tuple[str, str, str | None]:
    house = str(rng.randint(1, 180))
    flat = str(rng.randint(1, 120)) if rng.random() < 0.6 else None
    text = f"{street.name}, д. {house}" + (f", кв. {flat}" if flat else "")
    return text, house, flat


def demo_specs(reference: ReferenceData, count: int, seed: int) -> Iterator[DemoSpec]:
    """Tickets across categories, channels and statuses, as a week at 1563 looks."""
    rng = random.Random(seed)
    categories = [c for c in reference.categories]
    streets = list(reference.streets)
    statuses = [Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE, Status.CLOSED, Status.REJECTED]
    weights = [8, 10, 22, 15, 40, 5]
    phones = [_phone(rng) for _ in range(max(10, count // 3))]
    for _ in range(count):
        category = rng.choice(categories)
        street = rng.choice(streets)
        address, house, flat = _address(rng, street)
        text = rng.choice(PHRASES.get(category.code, [category.description]))
        channel = rng.choices([Channel.PHONE, Channel.WEB, Channel.IVR, Channel.OPEN311], [55, 30, 10, 5])[0]
        yield DemoSpec(
            data=NewTicket(
                channel=channel, phone=rng.choice(phones), category=category.code, title=f"{category.name}: {street.name}",
                description=f"{text}. {rng.choice(GENERIC)}.", address=address, street=street.name, house=house,
                flat=flat, district=street.district, lat=street.lat + rng.uniform(-0.002, 0.002),
                lon=street.lon + rng.uniform(-0.002, 0.002),
                citizen_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" if rng.random() < 0.7 else None,
            ),
            final_status=rng.choices(statuses, weights)[0],
        )


PATH_TO: dict[Status, list[tuple[Status, str | None]]] = {
    Status.NEW: [],
    Status.DISPATCHED: [(Status.DISPATCHED, None)],
    Status.IN_PROGRESS: [(Status.DISPATCHED, None), (Status.IN_PROGRESS, None)],
    Status.DONE: [(Status.DISPATCHED, None), (Status.IN_PROGRESS, None), (Status.DONE, "Работы выполнены")],
    Status.CLOSED: [(Status.DISPATCHED, None), (Status.IN_PROGRESS, None), (Status.DONE, "Работы выполнены"),
                    (Status.CLOSED, "Заявитель подтвердил выполнение по телефону")],
    Status.REJECTED: [(Status.REJECTED, "Не относится к компетенции городских служб")],
}


async def seed_demo(services: Any, *, count: int, seed: int, progress: bool = False) -> int:
    """Create ``count`` tickets through the service, each moved along the lifecycle."""
    tickets = services.tickets
    created = 0
    bar = tqdm(total=count, desc="demo tickets", unit="заявка", disable=not progress)
    try:
        for spec in demo_specs(services.reference, count, seed):
            view = await tickets.create(spec.data, DEMO_ACTORS[Role.OPERATOR])
            for to, note in PATH_TO[spec.final_status]:
                actor = DEMO_ACTORS[Role.SUPERVISOR]
                await tickets.move(view.number, to, actor, note=note)
            created += 1
            bar.update(1)
    finally:
        bar.close()
    return created


def bulk_rows(reference: ReferenceData, count: int, seed: int, start_id: int, year: int,
              start: datetime | None = None) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(ticket row, event rows) pairs with ids assigned, spread over the past year, for bulk loading."""
    start = start or datetime(year, 1, 1, tzinfo=UTC)
    step = timedelta(days=364) / max(count, 1)
    for i, spec in enumerate(demo_specs(reference, count, seed)):
        tid = start_id + i
        created = start + step * i
        d = spec.data
        ticket = {
            "id": tid, "number": f"{year % 100:02d}{tid:05d}", "channel": d.channel.value,
            "status": spec.final_status.value, "is_draft": False, "category_code": d.category,
            "department_code": reference.category(d.category).department if d.category else None,
            "title": d.title, "description": d.description, "address": d.address, "street": d.street,
            "house": d.house, "flat": d.flat, "district": d.district, "lat": d.lat, "lon": d.lon,
            "created_at": created, "updated_at": created, "version": 1, "extra": {}, "phone": d.phone,
        }
        events = [{"ticket_id": tid, "at": created, "kind": "created", "actor_name": "bulk", "actor_role": "system",
                   "from_status": None, "to_status": "new", "note": None, "public": True, "data": {}}]
        previous = "new"
        for n, (to, note) in enumerate(PATH_TO[spec.final_status], start=1):
            events.append({"ticket_id": tid, "at": created + timedelta(minutes=7 * n), "kind": "status",
                           "actor_name": "bulk", "actor_role": "system", "from_status": previous,
                           "to_status": to.value, "note": note, "public": True, "data": {}})
            previous = to.value
        yield ticket, events
