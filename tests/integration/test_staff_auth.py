"""Signing in and out: argon2 passwords, database sessions, CSRF, a backoff that outlives a restart."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import aiohttp
from sqlalchemy import select
from yarl import URL

from callcenter.accounts.models import LoginFailure, StaffSession
from callcenter.accounts.sessions import LoginThrottle, SessionStore
from callcenter.config import Settings
from callcenter.domain.tickets import Role
from callcenter.services import Services
from tests.conftest import LiveServer
from tests.integration.test_staff_support import (
    PASSWORD,
    make_user,
    new_ticket,
    restarted,
    session_cookie,
    staff_client,
)


async def test_login_sets_a_strict_cookie_and_stores_only_its_hash(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        resp = await client.post("/login", {"login": "Anna", "password": PASSWORD})
        assert resp.status == 303 and resp.headers["Location"] == "/staff/"
        set_cookie = resp.headers.getall("Set-Cookie")
        token = session_cookie(client)
    header = next(h for h in set_cookie if h.startswith("cc_session="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    async with live_server.services.sessions() as session:
        rows = (await session.execute(select(StaffSession))).scalars().all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in (r.token_hash, r.user_agent, r.address) for r in rows)


async def test_wrong_password_is_refused_in_russian_and_the_login_kept(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        resp = await client.post("/login", {"login": "anna", "password": "не тот пароль"})
        body = await resp.text()
        assert resp.status == 401
        assert "Неверный логин или пароль" in body
        assert 'value="anna"' in body and "не тот пароль" not in body
        empty = await client.post("/login", {"login": "", "password": ""})
        assert empty.status == 422 and "Введите логин и пароль" in await empty.text()
        assert (await client.get("/staff/")).status == 302


async def test_repeated_failures_slow_that_address_even_after_a_restart(
    live_server: LiveServer, settings: Settings
) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        for _ in range(4):
            assert (await client.post("/login", {"login": "anna", "password": "угадываю-пароль"})).status == 401
        # Backoff: the next try from this address for this login must wait, even with the right password.
        slowed = await client.post("/login", {"login": "anna", "password": PASSWORD})
        assert slowed.status == 429
        assert "Слишком много неудачных попыток" in await slowed.text()
    async with restarted(settings) as url, staff_client(url) as client:
        await client.get("/login")
        assert (await client.post("/login", {"login": "anna", "password": PASSWORD})).status == 429


async def test_one_address_guessing_many_logins_is_slowed(live_server: LiveServer) -> None:
    await make_user(live_server.services, "boris", Role.OPERATOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        for n in range(21):
            assert (await client.post("/login", {"login": f"guess{n}", "password": "1234567890"})).status == 401
        # A login never tried before waits too: the address itself is slowed.
        assert (await client.post("/login", {"login": "boris", "password": PASSWORD})).status == 429


async def test_backoff_ends_after_its_wait_and_success_clears_that_address(services: Services) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = [now]
    throttle = LoginThrottle(services.sessions, clock=lambda: clock[0])
    for _ in range(5):
        await throttle.failed("anna", "10.0.0.1")
    wait = await throttle.locked_for("anna", "10.0.0.1")
    assert wait == timedelta(seconds=4)
    assert await throttle.locked_for("anna", "10.0.0.2") is None  # another address is never held
    clock[0] = now + timedelta(seconds=5)
    assert await throttle.locked_for("anna", "10.0.0.1") is None
    await throttle.failed("anna", "10.0.0.2")
    await throttle.succeeded("anna", "10.0.0.1")
    async with services.sessions() as session:
        left = (await session.execute(select(LoginFailure.address).where(LoginFailure.login == "anna"))).scalars().all()
    assert left == ["10.0.0.2"]


async def test_a_session_survives_a_restart(live_server: LiveServer, settings: Settings) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        token = session_cookie(client)
    async with restarted(settings) as url, aiohttp.ClientSession(cookies={"cc_session": token}) as http:
        async with http.get(url + "/staff/", allow_redirects=False) as resp:
            assert resp.status == 200
            assert "Тест anna" in await resp.text()


async def test_sessions_end_when_idle_too_long_or_too_old(services: Services) -> None:
    user = await make_user(services, "anna", Role.OPERATOR)
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    clock = [start]
    store = SessionStore(services.sessions, clock=lambda: clock[0])
    token = await store.open(user.id)
    clock[0] = start + timedelta(hours=13)
    assert (await store.resolve(token)) is not None  # within a shift, and touched now
    clock[0] = start + timedelta(hours=13 + 15)
    assert await store.resolve(token) is None  # idle longer than a shift
    token = await store.open(user.id)
    for hours in range(12, 24 * 8, 12):  # used every 12 hours, but a week is the limit
        clock[0] = start + timedelta(hours=13 + 15 + hours)
        alive = await store.resolve(token)
    assert alive is None


async def test_logout_revokes_the_session_for_good(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        token = session_cookie(client)
        resp = await client.post("/logout")
        assert resp.status == 303 and resp.headers["Location"] == "/login"
    async with aiohttp.ClientSession(cookies={"cc_session": token}) as http:
        async with http.get(live_server.url + "/staff/", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"].startswith("/login")


async def test_forms_without_the_csrf_token_are_refused_and_change_nothing(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    await make_user(services, "boris", Role.OPERATOR)
    ticket = await new_ticket(services)
    async with staff_client(live_server.url, "anna") as anna, staff_client(live_server.url, "boris") as boris:
        missing = await anna.post(f"/staff/tickets/{ticket.number}/note", {"note": "без токена"}, csrf=False)
        assert missing.status == 403 and "Форма устарела" in await missing.text()
        foreign = await anna.post(
            f"/staff/tickets/{ticket.number}/note", {"note": "чужой токен", "csrf_token": boris.csrf}
        )
        assert foreign.status == 403
        ok = await anna.post(f"/staff/tickets/{ticket.number}/note", {"note": "с токеном"})
        assert ok.status == 303
    notes = [e.note for e in (await services.tickets.detail(ticket.number)).events if e.kind == "note"]
    assert notes == ["с токеном"]


async def test_the_login_form_itself_needs_its_token(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url) as client:
        resp = await client.post("/login", {"login": "anna", "password": PASSWORD}, csrf=False)
        assert resp.status == 403
        assert (await client.get("/staff/")).status == 302


async def test_anonymous_visitors_are_sent_to_login_and_back(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    ticket = await new_ticket(live_server.services)
    async with staff_client(live_server.url) as client:
        resp = await client.get(f"/staff/tickets/{ticket.number}?x=1")
        assert resp.status == 302
        location = URL(resp.headers["Location"])
        assert location.path == "/login" and location.query["next"] == f"/staff/tickets/{ticket.number}?x=1"
        page = await client.get(resp.headers["Location"])
        assert f'value="/staff/tickets/{ticket.number}?x=1"' in await page.text()
        login = await client.post(
            "/login", {"login": "anna", "password": PASSWORD, "next": f"/staff/tickets/{ticket.number}?x=1"}
        )
        assert login.headers["Location"] == f"/staff/tickets/{ticket.number}?x=1"


async def test_next_never_leaves_the_site(live_server: LiveServer) -> None:
    await make_user(live_server.services, "vera", Role.EXECUTOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        resp = await client.post("/login", {"login": "vera", "password": PASSWORD, "next": "//evil.example/x"})
        assert resp.headers["Location"] == "/staff/queue"


async def test_argon2_is_what_the_table_keeps(services: Services) -> None:
    user = await make_user(services, "anna", Role.OPERATOR)
    from callcenter.store import models as m

    async with services.sessions() as session:
        stored = (await session.get(m.User, user.id)).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert await services.users.authenticate("ANNA ", PASSWORD) is not None
    assert await services.users.authenticate("anna", PASSWORD + "x") is None
