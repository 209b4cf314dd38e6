"""What staff read on their pages is Russian: no raw keys, codes or UTC internals; the site has an icon."""

from __future__ import annotations

from callcenter.domain.tickets import Role
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, leak, make_user, staff_client


async def test_ticket_page_words_the_portal_facts(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "op", Role.OPERATOR)
    extra = {"location_source": "map", "consent_152fz": {"at": "2026-12-05T21:30:00+00:00", "text": "2026-11"}}
    ticket = await services.tickets.create(leak(extra=extra), OPERATOR_ACTOR)
    async with staff_client(live_server.url, "op") as client:
        page = await (await client.get(f"/staff/tickets/{ticket.number}")).text()
    assert "Место определено" in page and "отмечено заявителем на карте" in page
    assert "дано 06.12.2026 00:30" in page  # 21:30 UTC is 00:30 in Sevastopol
    for raw in ("location_source", "consent_152fz", "{&#39;at&#39;", "'at'", "2026-12-05T21:30"):
        assert raw not in page


async def test_departments_page_names_kinds_in_russian(live_server: LiveServer) -> None:
    await make_user(live_server.services, "adm", Role.ADMIN)
    async with staff_client(live_server.url, "adm") as client:
        page = await (await client.get("/staff/admin/departments")).text()
    assert "Ресурсоснабжающая организация" in page and "Администрация муниципального образования" in page
    assert "<td>utility</td>" not in page and "<td>district</td>" not in page


async def test_favicon_is_linked_and_served(live_server: LiveServer) -> None:
    async with staff_client(live_server.url) as client:
        home = await (await client.get("/login")).text()
        assert 'rel="icon" href="/static/favicon.svg"' in home
        svg = await client.get("/static/favicon.svg")
        assert svg.status == 200 and (await svg.text()).startswith("<svg")
        ico = await client.get("/favicon.ico")
        body = await ico.read()
    assert ico.status == 200 and ico.headers["Content-Type"] == "image/x-icon"
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO header, which every browser reads
