"""Incidents through the real app (SQLite, and PostgreSQL when configured): the supervisors' pages,
the live count, restoration into the callbacks loop, the utilities' endpoint and the import file."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from callcenter.domain.incidents import IncidentStatus, area_from_json
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.incidents.service import IncidentInput
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.telephony_fixtures import make_user, signed_in

OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")
AREA = {"streets": [{"street": "ул. Ленина", "houses": "1-15"}], "districts": [], "circles": [], "polygons": []}


async def _ticket(live: LiveServer, phone: str, address: str, category: str = "no_water") -> str:
    view = await live.services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=phone, category=category, title="Нет воды", address=address), OPERATOR
    )
    return view.number


async def test_supervisor_creates_counts_and_restores_one_callback_per_citizen(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "boss", Role.SUPERVISOR)
    inside = [
        await _ticket(live_server, "+79780000101", "ул. Ленина, 5"),
        await _ticket(live_server, "+79780000101", "улица Ленина, д. 7"),  # same citizen, second ticket
        await _ticket(live_server, "+79780000102", "Ленина 15"),
    ]
    outside = await _ticket(live_server, "+79780000103", "ул. Ленина, 40")
    async with signed_in(live_server.url, "boss") as boss:
        page = await boss.page("/staff/incidents")
        assert "Новая авария" in page and "/static/vendor/leaflet-1.9.4/leaflet.js" in page
        count = await boss.http.post(
            live_server.url + "/staff/incidents/count",
            json={"area": AREA},
            headers={"X-CSRF-Token": boss.csrf, "Accept": "application/json"},
        )
        assert await count.json() == {"tickets": 3, "citizens": 2}
        bad = await boss.http.post(
            live_server.url + "/staff/incidents/count",
            json={"area": {"circles": [{"lat": 44.6, "lon": 33.5, "radius_m": -1}]}},
            headers={"X-CSRF-Token": boss.csrf},
        )
        assert bad.status == 400 and "Радиус" in (await bad.json())["error"]
        refused = await boss.post(
            "/staff/incidents", {"category": "no_water", "title": "Порыв", "area": json.dumps({"districts": []})}
        )
        assert refused.status == 400 and "нарисуйте область" in await refused.text()
        made = await boss.post(
            "/staff/incidents",
            {
                "category": "no_water",
                "title": "Порыв на Ленина",
                "public_text": "Нет воды до вечера",
                "area": json.dumps(AREA),
                "expected_at": f"{services.incidents.service.now().astimezone(services.settings.zone) + timedelta(hours=3):%Y-%m-%dT%H:%M}",
            },
        )
        assert made.status == 303, await made.text()
        incident_id = int(made.headers["Location"].rsplit("/", 1)[1])
        service = services.incidents.service
        master = (await service.get(incident_id)).master_number
        for linked, number in enumerate(inside, start=1):
            await service.link(incident_id, number, "operator")
            # the live board refreshes the master's row on the "linked" message: it counts them now
            fresh = await (await boss.get(f"/staff/tickets/{master}/row?view=board")).text()
            assert f'data-incident-master="{incident_id}"' in fresh and f"↳ привязано: {linked}" in fresh
        # The board groups the linked tickets under the master: folded, counted, one click away.
        listing = await boss.page("/staff/")
        assert f"главная · авария № {incident_id}" in listing and "↳ привязано: 3" in listing
        assert not [n for n in inside if f'id="t-{n}"' in listing] and f'id="t-{outside}"' in listing
        group = await boss.page(f"/staff/?incident={incident_id}&linked=1")
        assert group.count(f"↳ авария № {incident_id}") == 3 and f'id="t-{outside}"' not in group
        assert (await boss.get("/staff/?incident=x")).status == 422  # not a number: said, not a 500
        unfolded = await boss.page("/staff/?linked=1")
        assert all(f'id="t-{n}"' in unfolded for n in inside)
        row = await boss.get(f"/staff/tickets/{inside[0]}/row?view=board")
        assert row.status == 204  # a live update of a folded ticket adds no row
        supervisor = Actor(role=Role.SUPERVISOR, name="Руководитель")
        department = services.reference.category("no_water").department
        await services.tickets.move(inside[2], Status.DISPATCHED, supervisor, department=department)
        await services.tickets.move(inside[2], Status.IN_PROGRESS, supervisor)
        worked = await boss.page("/staff/")
        assert f'id="t-{inside[2]}"' in worked  # in work on its own: shown
        board = await boss.page(f"/staff/incidents/{incident_id}")
        assert "Порыв на Ленина" in board and "улица Ленина, д. 1–15" in board
        public = await (await boss.get("/api/incidents/active.json")).json()
        assert [i["id"] for i in public["incidents"]] == [incident_id] and "phone" not in json.dumps(public)

        empty = await boss.post(f"/staff/incidents/{incident_id}/restore", {"note": ""})
        assert empty.status == 400
        done = await boss.post(f"/staff/incidents/{incident_id}/restore", {"note": "Магистраль отремонтирована"})
        assert done.status == 303
    incident = await service.get(incident_id)
    assert incident.status is IncidentStatus.RESTORED
    for number in inside:
        detail = await services.tickets.detail(number)
        assert detail.ticket.status is Status.DONE
        assert any("Магистраль отремонтирована" in (e.note or "") for e in detail.events)
    assert (await services.tickets.get(outside)).status is Status.NEW
    async with services.sessions() as session:
        per_citizen = (
            await session.execute(
                select(m.Callback.phone, func.count()).group_by(m.Callback.phone).order_by(m.Callback.phone)
            )
        ).all()
        covered = (await session.execute(select(func.count()).select_from(m.CallbackTicket))).scalar_one()
    assert [tuple(r) for r in per_citizen] == [("+79780000101", 1), ("+79780000102", 1)]  # one call per citizen
    assert covered == 3


async def test_utility_endpoint_needs_its_department_key_and_skips_repeats(live_server: LiveServer) -> None:
    feature = live_server.services.incidents
    _view, key = (
        await feature.keys.add("vodokanal")
        if "vodokanal" in {d.code for d in live_server.services.reference.departments}
        else await feature.keys.add(live_server.services.reference.category("no_water").department)
    )
    body = [
        {
            "street": "ул. Ленина",
            "houses": "1-9",
            "from": "2026-12-06 09:00",
            "to": "2026-12-06 18:30",
            "reason": "Замена задвижки",
            "ref": "VK-1",
        }
    ]
    async with aiohttp.ClientSession() as http:
        url = live_server.url + "/api/incidents"
        assert (await http.post(url, json=body)).status == 401
        assert (await http.post(url, json=body, headers={"X-Api-Key": "inc_wrong"})).status == 401
        bad = await http.post(url, json=[{"street": "", "from": "x", "reason": ""}], headers={"X-Api-Key": key})
        assert bad.status == 400 and (await bad.json())["problems"][0].startswith("строка 1")
        garbage = await http.post(
            url, data=b"\xff{not json", headers={"X-Api-Key": key, "Content-Type": "application/json"}
        )
        assert garbage.status == 400 and "UTF-8" in (await garbage.json())["problems"][0]
        not_json = await http.post(url, data=b"{oops", headers={"X-Api-Key": key, "Content-Type": "application/json"})
        assert not_json.status == 400 and "не JSON" in (await not_json.json())["problems"][0]
        huge = await http.post(
            url, data=io.BytesIO(b"[" + b" " * (1024 * 1024 + 10) + b"]"), headers={"X-Api-Key": key}
        )
        assert huge.status == 413
        first = await http.post(url, json=body, headers={"X-Api-Key": key})
        assert first.status == 201, await first.text()
        again = await http.post(url, json=body, headers={"X-Api-Key": key})
        assert (await again.json())["skipped_refs"] == ["VK-1"]
    [incident] = await feature.service.listing()
    assert incident.source == "api" and incident.area_text == "улица Ленина, д. 1–9"
    assert (
        incident.expected_at is not None and f"{incident.expected_at.astimezone(feature.service.zone):%H:%M}" == "18:30"
    )


def test_cli_import_reports_every_bad_row_then_imports_a_good_file(tmp_path: Path, database_url: str) -> None:
    env = {
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_DATA_DIR": str(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
    }
    bad = tmp_path / "bad.csv"
    bad.write_text("street;houses;from;to;reason\nул. Ленина;1-x;2026-12-06 09:00;;Ремонт\n;1;;;\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "incidents", "import", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "строка 1" in run.stderr and "строка 2" in run.stderr, run.stderr
    good = tmp_path / "plan.csv"
    good.write_text(
        "street,houses,from,to,reason,category,ref\n"
        "ул. Ленина,1-15,2026-12-06 09:00,2026-12-06 18:30,Замена задвижки,no_water,VK-118\n"
        "проспект Нахимова,,2026-12-06 09:00,2026-12-06 18:30,Замена задвижки,no_water,VK-118\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "incidents", "import", str(good)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "1 incidents created" in run.stdout and "улица Ленина, д. 1–15; проспект Нахимова" in run.stdout, run.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "incidents", "list", "--all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Замена задвижки" in listed.stdout


PORTAL_FIELDS = {
    "category": "no_water",
    "description": "Нет воды с утра",
    "name": "Анна Петрова",
    "phone": "8 978 123-45-67",
    "consent": "on",
}


async def test_portal_offers_and_joins_a_known_outage_and_open311_says_so(live_server: LiveServer) -> None:
    services = live_server.services
    service = services.incidents.service
    made = await service.create(
        IncidentInput(
            category="no_water",
            title="Порыв на Ленина",
            public_text="Нет воды: порыв магистрали",
            area=area_from_json(AREA),
            expected_at=service.now() + timedelta(hours=3),
        ),
        Actor(role=Role.SUPERVISOR, name="Руководитель"),
    )
    async with aiohttp.ClientSession() as http:
        home = await (await http.get(live_server.url + "/")).text()
        assert 'id="incident-banner"' in home and "/static/incidents/portal.js" in home
        match = live_server.url + "/api/incidents/match"
        found = await (await http.get(match, params={"category": "no_water", "address": "ул. Ленина, 5"})).json()
        assert [i["id"] for i in found["incidents"]] == [made.id]
        other = await (await http.get(match, params={"category": "garbage", "address": "ул. Ленина, 5"})).json()
        assert other["incidents"] == []
        outside = await (await http.get(match, params={"category": "no_water", "address": "ул. Ленина, 40"})).json()
        assert outside["incidents"] == []
        bad = await http.get(match, params={"category": "no_water", "lat": "x", "lon": "1"})
        assert bad.status == 400

        async def submit(address: str) -> aiohttp.ClientResponse:
            form = aiohttp.FormData()
            for key, value in {**PORTAL_FIELDS, "address": address, "incident": str(made.id)}.items():
                form.add_field(key, value)
            return await http.post(live_server.url + "/", data=form, allow_redirects=False)

        joined = await submit("ул. Ленина, 5")
        assert joined.status == 303 and joined.headers["Location"].endswith("?incident=joined"), await joined.text()
        page = await (await http.get(live_server.url + joined.headers["Location"])).text()
        assert 'id="incident-joined"' in page
        forged = await submit("ул. Ленина, 40")  # outside the area: the offer links nothing
        assert forged.status == 303 and "incident" not in forged.headers["Location"]
        number = joined.headers["Location"].split("/")[2].split("?")[0]
        body = await (await http.get(f"{live_server.url}/open311/v2/requests/{number}.json")).json()
    board = await service.board(made.id)
    assert number in [t.number for t in board.tickets] and board.linked_tickets == 2
    [request] = body
    assert f"Авария № {made.id}: Нет воды: порыв магистрали" in request["status_notes"]
    assert request["service_notice"].startswith(f"Авария № {made.id}")


async def test_operator_new_ticket_inside_an_incident_is_offered_and_linked(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "op", Role.OPERATOR)
    service = services.incidents.service
    made = await service.create(
        IncidentInput(category="no_water", title="Порыв", area=area_from_json(AREA)),
        Actor(role=Role.SUPERVISOR, name="Руководитель"),
    )
    async with signed_in(live_server.url, "op") as op:
        page = await op.page("/staff/tickets/new")
        assert 'id="incident-offer"' in page and "/static/incidents/portal.js" in page
        fields = {
            "phone": "8 978 555-00-11",
            "category": "no_water",
            "description": "Нет воды",
            "incident": str(made.id),
        }
        inside = await op.post("/staff/tickets/new", {**fields, "address": "ул. Ленина, 9"})
        outside = await op.post("/staff/tickets/new", {**fields, "address": "ул. Ленина, 90"})
        assert inside.status == outside.status == 303
    linked = inside.headers["Location"].split("/")[3].split("?")[0]
    unlinked = outside.headers["Location"].split("/")[3].split("?")[0]
    numbers = [t.number for t in (await service.board(made.id)).tickets]
    assert linked in numbers and unlinked not in numbers
    assert (await services.tickets.get(linked)).extra["incident"] == made.id


async def test_an_active_incident_shows_on_the_wallboard_with_its_figures(live_server: LiveServer) -> None:
    service = live_server.services.incidents.service
    await make_user(live_server.services, "boss", role=Role.SUPERVISOR)
    async with signed_in(live_server.url, "boss") as boss:
        before = await (await boss.get("/staff/wallboard/state")).json()
        assert [p for p in before["panels"] if p["key"] == "incidents"][0]["lines"] == []
        made = await service.create(
            IncidentInput(
                category="no_water",
                title="Порыв на Ленина",
                public_text="Нет воды: порыв магистрали",
                area=area_from_json(AREA),
                expected_at=service.now() + timedelta(hours=3),
            ),
            Actor(role=Role.SUPERVISOR, name="Руководитель"),
        )
        for _ in range(80):  # the panel is read at most every 5 s
            state = await (await boss.get("/staff/wallboard/state")).json()
            [panel] = [p for p in state["panels"] if p["key"] == "incidents"]
            if panel["lines"]:
                break
            await asyncio.sleep(0.1)
    assert panel["title"] == "Аварии"
    [line] = panel["lines"]
    assert line["text"].startswith("Порыв на Ленина — ") and "Звонков в IVR: 0" in line["text"]
    assert line["level"] == "alert" and made.id > 0
