"""A kept conversation's recordings are served only to those who may hear it: operators,
supervisors, admins, an executor of the call's ticket's department; never analysts; audited."""

from __future__ import annotations

from pathlib import Path

from callcenter.accounts.audit import AuditLog, AuditQuery
from callcenter.domain.tickets import Role, Status
from tests.conftest import LiveServer
from tests.conversation_fixtures import CALLER_SAYS, add_call_with_conversation
from tests.integration.test_staff_support import OPERATOR_ACTOR, make_user, new_ticket, staff_client

WAV = "/staff/calls/{}/conversation/{}.wav"


async def test_conversation_recordings_are_served_by_role_and_department(live_server: LiveServer) -> None:
    services = live_server.services
    for login, role, department in (
        ("olga", Role.OPERATOR, None),
        ("ada", Role.ANALYST, None),
        ("vodokanal", Role.EXECUTOR, "vodokanal"),
        ("dorogi", Role.EXECUTOR, "road_service"),
    ):
        await make_user(services, login, role, department=department)
    ticket = await new_ticket(services, category="water_leak", title="Прорыв трубы")
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR, department="vodokanal")
    await add_call_with_conversation(services, "1765000000.11", ticket_id=ticket.id)
    await add_call_with_conversation(services, "1765000000.12", ticket_id=None, caller="+79787654321")

    async def status(login: str, path: str) -> int:
        async with staff_client(live_server.url, login) as client:
            resp = await client.get(path)
            body = await resp.read()
            if resp.status == 200:
                assert resp.content_type == "audio/wav" and body[:4] == b"RIFF"
            return resp.status

    linked, unlinked = WAV.format("1765000000.11", "caller"), WAV.format("1765000000.12", "operator")
    assert await status("olga", linked) == 200 and await status("olga", unlinked) == 200
    assert await status("vodokanal", linked) == 200
    assert await status("vodokanal", unlinked) == 404  # no ticket: no executor's business
    assert await status("dorogi", linked) == 403
    assert await status("ada", linked) == 403 and await status("ada", unlinked) == 403
    assert await status("olga", WAV.format("1765000000.99", "caller")) == 404
    assert await status("olga", "/staff/calls/..%2F..%2Fsecret/conversation/caller.wav") == 404
    async with staff_client(live_server.url) as anonymous:
        resp = await anonymous.get(linked)
        assert resp.status in (302, 303) and "/login" in resp.headers["Location"]
    heard = await AuditLog(services.sessions).search(AuditQuery(action="conversation_heard"))
    assert {(e.login, e.object_id) for e in heard} >= {("olga", "1765000000.11"), ("vodokanal", "1765000000.11")}

    # Erased (retention): the row keeps nothing to serve, the route answers 404.
    (Path(services.settings.data_dir) / "recordings" / "conversations" / "1765000000.11-caller.wav").unlink()
    assert await status("olga", linked) == 404

    # The analyst's pages say a conversation was kept, never what was said.
    async with staff_client(live_server.url, "ada") as client:
        for path in (f"/staff/tickets/{ticket.number}", "/staff/calls"):
            page = await (await client.get(path)).text()
            assert CALLER_SAYS not in page and "аналитику недоступн" in page
            assert "/conversation/" not in page
