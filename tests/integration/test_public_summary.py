"""A phone ticket's public text: nothing of what the operator typed is published until an
operator confirms a public summary on the ticket page; Open311 GET and tracking show only it."""

from __future__ import annotations

import html
import json

import aiohttp

from callcenter.accounts.audit import AuditQuery
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.tickets.schemas import NewTicket, TicketView
from callcenter.web.context import WEB
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, staff_client

OPERATOR = Actor(role=Role.OPERATOR, name="Оператор Смирнова")
TYPED = "Звонила Петрова Мария Ивановна, тел. 89781234567, кв. 7: во дворе из люка течёт вода"
SECRETS = ("Петрова", "Мария", "89781234567", "978", "1234567", "кв. 7")


async def phone_ticket(live_server: LiveServer) -> TicketView:
    data = NewTicket(
        channel=Channel.PHONE,
        phone="+79781234567",
        citizen_name="Петрова Мария Ивановна",
        category="water_leak",
        description=TYPED,
        address="ул. Ленина, д. 5",
        street="улица Ленина",
        house="5",
        lat=44.61,
        lon=33.52,
    )
    return await live_server.services.tickets.create(data, OPERATOR)


async def open311(live_server: LiveServer, number: str) -> tuple[dict[str, object], str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{live_server.url}/open311/v2/requests/{number}.json") as resp:
            body = await resp.text()
            assert resp.status == 200, body
    [found] = json.loads(body)
    return found, body


async def tracking(live_server: LiveServer, number: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{live_server.url}/track", data={"number": number, "digits": "4567"}) as resp:
            assert resp.status == 200
            return await resp.text()


async def test_a_phone_ticket_publishes_nothing_typed_until_an_operator_confirms_a_public_text(
    live_server: LiveServer,
) -> None:
    ticket = await phone_ticket(live_server)
    category = live_server.services.reference.category("water_leak").name
    found, body = await open311(live_server, ticket.number)
    assert found["description"] == category  # only the category's name until confirmed
    for secret in (*SECRETS, "люка"):
        assert secret not in body, secret
    track = await tracking(live_server, ticket.number)
    assert "люка" not in track and "Петрова" not in track and 'class="description"' not in track

    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as anna:
        page = html.unescape(await (await anna.get(f"/staff/tickets/{ticket.number}")).text())
        assert "Не опубликован" in page
        # The form is prefilled with the description masked: the operator starts from a safe text.
        draft = page.split('id="f-public-summary"', 1)[1].split("</textarea>", 1)[0]
        assert "во дворе из люка течёт вода" in draft and "[телефон скрыт]" in draft
        for secret in SECRETS:
            assert secret not in draft, secret
        # The operator confirms, even leaving a phone and a name in: they are masked before storing.
        typed = "Во дворе из люка течёт вода, Петрова Мария Ивановна просит перезвонить 8 978 123-45-67"
        resp = await anna.post(f"/staff/tickets/{ticket.number}/public-summary", {"public_summary": typed})
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"].startswith(f"/staff/tickets/{ticket.number}?done=published")
        page = html.unescape(await (await anna.get(resp.headers["Location"])).text())
        assert "Публичный текст сохранён" in page and "подтвердил(а) Тест anna" in page

    found, body = await open311(live_server, ticket.number)
    assert found["description"] == "Во дворе из люка течёт вода, [имя скрыто] просит перезвонить [телефон скрыт]"
    for secret in SECRETS:
        assert secret not in body, secret
    track = await tracking(live_server, ticket.number)
    assert "Во дворе из люка течёт вода, [имя скрыто] просит перезвонить" in html.unescape(track)
    for secret in ("Петрова", "89781234567", "123-45-67"):
        assert secret not in track, secret
    detail = await live_server.services.tickets.detail(ticket.number)
    assert detail.ticket.description == TYPED  # the staff description itself is unchanged
    [event] = [e for e in detail.events if e.kind == "public_summary"]
    assert not event.public and event.actor_name == "Тест anna" and "[имя скрыто]" in (event.note or "")
    actions = [e.action for e in await live_server.app[WEB].audit.search(AuditQuery(login="anna"))]
    assert "ticket_public_summary" in actions

    # Withdrawing (an empty text) takes it off again.
    async with staff_client(live_server.url, "anna") as anna:
        await anna.get(f"/staff/tickets/{ticket.number}")
        resp = await anna.post(f"/staff/tickets/{ticket.number}/public-summary", {"public_summary": "  "})
        assert resp.status == 303
    found, _ = await open311(live_server, ticket.number)
    assert found["description"] == category


async def test_the_public_text_form_needs_its_csrf_token_and_a_publishing_role(live_server: LiveServer) -> None:
    ticket = await phone_ticket(live_server)
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    await make_user(services, "boss", Role.SUPERVISOR)
    await make_user(services, "ivan", Role.EXECUTOR)
    await make_user(services, "lena", Role.ANALYST)
    path = f"/staff/tickets/{ticket.number}/public-summary"
    async with staff_client(live_server.url, "anna") as anna:
        missing = await anna.post(path, {"public_summary": "без токена"}, csrf=False)
        assert missing.status == 403 and "Форма устарела" in await missing.text()
    for login in ("ivan", "lena"):
        async with staff_client(live_server.url, login) as client:
            page = await (await client.get(f"/staff/tickets/{ticket.number}")).text()
            assert 'id="f-public-summary"' not in page  # no form for those who may not publish
            refused = await client.post(path, {"public_summary": f"от {login}"})
            assert refused.status == 403, login
    assert "public_summary" not in (await services.tickets.get(ticket.number)).extra
    async with staff_client(live_server.url, "boss") as boss:
        await boss.get(f"/staff/tickets/{ticket.number}")
        assert (await boss.post(path, {"public_summary": "Течёт вода из люка во дворе"})).status == 303
    found, _ = await open311(live_server, ticket.number)
    assert found["description"] == "Течёт вода из люка во дворе"
