"""TOTP two-factor sign-in: enrolment with the secret shown once, the code step, replay refused,
required for admins and supervisors after a grace period, optional for others."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyotp

from callcenter.accounts.audit import AuditQuery
from callcenter.accounts.totp import TotpService
from callcenter.config import Settings
from callcenter.domain.tickets import Role
from callcenter.services import Services
from callcenter.web.context import WEB
from tests.conftest import LiveServer
from tests.integration.test_staff_support import StaffClient, make_user, restarted, staff_client

SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7 ]+)</code>')


async def enrol(client: StaffClient) -> str:
    """Enrol through the account page; returns the secret the page showed."""
    await client.get("/staff/account")
    page = await (await client.post("/staff/account/totp")).text()
    secret = SECRET.search(page).group(1).replace(" ", "")  # type: ignore[union-attr]
    confirmed = await client.post("/staff/account/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert confirmed.status == 303, await confirmed.text()
    return secret


async def test_an_operator_may_enrol_and_then_signs_in_with_a_code(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as anna:
        secret = await enrol(anna)
        page = await (await anna.get("/staff/account")).text()
        assert "подключён" in page and secret[:4] not in page  # the secret is never shown again
    async with staff_client(live_server.url) as client:
        first = await client.login("anna")
        assert first.status == 200 and "Код подтверждения" in await first.text()
        assert (await client.get("/staff/")).status == 302  # no session yet
        wrong = await client.post("/login/code", {"code": "000000"})
        assert wrong.status == 401 and "Неверный или уже использованный код" in await wrong.text()
        # The enrolment used this 30 s step's code: the next step's (one step of drift is allowed).
        code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
        assert (await client.post("/login/code", {"code": code})).status == 303
        assert (await client.get("/staff/")).status == 200
    async with staff_client(live_server.url) as replay:
        await replay.login("anna")
        assert (await replay.post("/login/code", {"code": code})).status == 401  # each code once
    actions = [e.action for e in await live_server.app[WEB].audit.search(AuditQuery(login="anna"))]
    assert "totp_enrolled" in actions and "totp_failed" in actions


async def test_the_code_step_needs_the_password_step_first(live_server: LiveServer) -> None:
    anna = await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        secret = await enrol(client)
    async with staff_client(live_server.url) as attacker:
        await attacker.get("/login")
        forged = f"{anna.id}.{int(datetime.now(UTC).timestamp()) + 300}.deadbeef"
        attacker.http.cookie_jar.update_cookies({"cc_2fa": forged})
        code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
        resp = await attacker.post("/login/code", {"code": code})
        assert resp.status == 401 and "Войдите ещё раз" in await resp.text()
        assert (await attacker.get("/staff/")).status == 302


async def test_wrong_codes_are_throttled_like_passwords(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        await enrol(client)
    async with staff_client(live_server.url) as guesser:
        await guesser.login("anna")
        statuses = [(await guesser.post("/login/code", {"code": f"{n:06d}"})).status for n in range(5)]
    assert statuses[:3] == [401, 401, 401] and 429 in statuses


async def test_a_supervisor_past_the_grace_period_can_only_enrol(settings: Settings, services: Services) -> None:
    strict = replace(settings, totp_grace_days=0)
    await make_user(services, "boss", Role.SUPERVISOR)  # the services fixture cleaned the database first
    async with restarted(strict) as url:
        async with staff_client(url) as boss:
            resp = await boss.login("boss")
            assert resp.status == 303
            held = await boss.get("/staff/board")
            assert held.status == 302 and held.headers["Location"].startswith("/staff/account")
            assert (await boss.get("/staff/calls/state", headers={"Accept": "application/json"})).status == 403
            await enrol(boss)
            assert (await boss.get("/staff/board")).status == 200


async def test_grace_counts_from_the_account_creation(services: Services) -> None:
    boss = await make_user(services, "boss", Role.SUPERVISOR)
    now = [datetime.now(UTC)]
    totp = TotpService(services.sessions, grace=timedelta(days=7), clock=lambda: now[0])
    assert not await totp.must_enrol_now(boss.id, Role.SUPERVISOR)
    now[0] += timedelta(days=8)
    assert await totp.must_enrol_now(boss.id, Role.SUPERVISOR)
    assert not await totp.must_enrol_now(boss.id, Role.OPERATOR)  # optional for operators


async def test_an_admin_lists_a_users_sessions_revokes_one_and_resets_the_second_factor(
    live_server: LiveServer,
) -> None:
    anna = await make_user(live_server.services, "anna", Role.OPERATOR)
    await make_user(live_server.services, "root", Role.ADMIN)
    url = live_server.url.replace("http", "ws") + "/ws"
    async with staff_client(live_server.url, "anna") as desk, staff_client(live_server.url, "anna") as phone:
        await enrol(desk)
        # The phone signed in after the desk: its session is the newer one.
        phone_session = max(await live_server.app[WEB].sessions.list_for_user(anna.id), key=lambda s: s.id)
        async with phone.http.ws_connect(url) as phone_ws:
            assert (await phone_ws.receive_json(timeout=15))["type"] == "hello"
            async with staff_client(live_server.url, "root") as root:
                page = await (await root.get(f"/staff/admin/users/{anna.id}")).text()
                assert "Сеансы сотрудника" in page and "Сбросить второй фактор" in page
                resp = await root.post(f"/staff/admin/users/{anna.id}/sessions/{phone_session.id}/revoke")
                assert resp.status == 303
                closing = await phone_ws.receive(timeout=15)
                assert closing.data == 4001
                assert (await root.post(f"/staff/admin/users/{anna.id}/totp-reset")).status == 303
    assert not await live_server.app[WEB].totp.enrolled(anna.id)
    actions = {e.action for e in await live_server.app[WEB].audit.search(AuditQuery(login="root"))}
    assert {"session_revoked", "totp_reset"} <= actions


QR_PATH = re.compile(r'<svg[^>]*class="totp-qr"[^>]*>.*?<path[^>]*stroke="#000"[^>]*d="([^"]+)"', re.S)
URI = re.compile(r'<code class="totp-uri">([^<]+)</code>')


def modules_of(svg_path: str) -> set[tuple[int, int]]:
    """The dark modules an SVG path of segno's kind draws (``M x y.5 h n m dx dy ...``): a decoder
    of the picture itself, independent of how the markup is formatted."""
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for op, args in re.findall(r"([MmHhVv])([-\d. ]+)", svg_path.replace("-", " -")):
        nums = [float(n) for n in args.split()]
        if op in "Mm":
            x, y = (nums[0], nums[1]) if op == "M" else (x + nums[0], y + nums[1])
        elif op in "Hh":
            end = nums[0] if op == "H" else x + nums[0]
            dark.update((int(col), int(y)) for col in range(int(x), int(end)))
            x = end
        else:
            y = nums[0] if op == "V" else y + nums[0]
    return dark


async def test_enrolment_shows_a_qr_code_of_exactly_the_otpauth_link_once(live_server: LiveServer) -> None:
    import html

    import segno

    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as anna:
        before = await (await anna.get("/staff/account")).text()
        assert 'class="totp-qr"' not in before  # nothing before enrolment starts
        page = await (await anna.post("/staff/account/totp")).text()
        secret = SECRET.search(page).group(1).replace(" ", "")  # type: ignore[union-attr]
        uri = html.unescape(URI.search(page).group(1))  # type: ignore[union-attr]
        assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
        found = QR_PATH.search(page)
        assert found, "no inline SVG QR code on the enrolment page"
        assert "<script" not in found.group(0) and "data:" not in found.group(0)
        # The picture's dark modules are exactly those of the QR code of the link (4-module border).
        expected = {
            (col + 4, row + 4)
            for row, line in enumerate(segno.make(uri, error="m", micro=False).matrix)
            for col, bit in enumerate(line)
            if bit
        }
        assert modules_of(found.group(1)) == expected
        confirmed = await anna.post("/staff/account/totp/confirm", {"code": pyotp.TOTP(secret).now()})
        assert confirmed.status == 303
        after = await (await anna.get("/staff/account")).text()
        assert 'class="totp-qr"' not in after and secret[:4] not in after and "otpauth://" not in after
