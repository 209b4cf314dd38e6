"""The staff ticket pages: their services, routes and template filter (``setup(app, services)``)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from callcenter.accounts.departments import DepartmentService
from callcenter.accounts.departments_cli import DepartmentsCommand
from callcenter.features import Command, Feature
from callcenter.portal.api import PhotoStore
from callcenter.services import Services
from callcenter.staff import (
    account,
    admin,
    archive_page,
    audit_page,
    editing,
    export,
    lists,
    privacy,
    queue,
    supervisor,
    ticket_board,
    views,
)
from callcenter.staff.done_photo import DONE_PHOTOS, DonePhotos, mark_done
from callcenter.staff.pages import TARGETS
from callcenter.staff.related import RelatedRecords
from callcenter.staff.staff_services import STAFF, StaffServices
from callcenter.staff.stats import BoardStats
from callcenter.staff.targets import TargetBook
from callcenter.web.auth import STAFF_ROLES, require_roles
from callcenter.web.context import WEB
from callcenter.web.svg_charts import human_duration

NUMBER = r"{number:\d{7,12}}"


def setup(app: web.Application, services: Services) -> None:
    """Build the staff services and add the routes (sign-in, CSRF and /ws are the web layer's)."""
    settings = services.settings
    targets = TargetBook(services.reference, settings.dispatch_target_seconds)
    app[TARGETS] = targets
    app[STAFF] = StaffServices(
        sessions=app[WEB].sessions,
        departments=DepartmentService(services.sessions),
        related=RelatedRecords(services.sessions),
        stats=BoardStats(services.sessions, targets, settings.zone),
    )
    app[DONE_PHOTOS] = DonePhotos(PhotoStore(settings.data_dir, settings.max_photos), services.photos)
    aiohttp_jinja2.get_env(app).filters["human_duration"] = human_duration
    add_routes(app.router)
    app.cleanup_ctx.append(privacy.retention_ctx)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff", _to_board)
    router.add_get("/staff/", ticket_board.board_page, name="staff_board")
    router.add_get("/staff/tickets/new", editing.new_ticket_page, name="staff_ticket_new")
    router.add_post("/staff/tickets/new", editing.create_ticket)
    router.add_get(f"/staff/tickets/{NUMBER}", views.ticket_page, name="staff_ticket")
    router.add_get(f"/staff/tickets/{NUMBER}/row", lists.row_fragment, name="staff_ticket_row")
    router.add_get(f"/staff/tickets/{NUMBER}/edit", editing.edit_page, name="staff_ticket_edit")
    router.add_post(f"/staff/tickets/{NUMBER}/edit", editing.edit_submit)
    router.add_post(f"/staff/tickets/{NUMBER}/move", views.move_ticket, name="staff_ticket_move")
    router.add_post(f"/staff/tickets/{NUMBER}/done", mark_done, name="staff_ticket_done")
    router.add_post(f"/staff/tickets/{NUMBER}/note", views.add_note, name="staff_ticket_note")
    router.add_post(f"/staff/tickets/{NUMBER}/public-summary", views.publish_summary, name="staff_ticket_public")
    router.add_get(r"/staff/attachments/{attachment_id:\d+}", views.attachment_file, name="staff_attachment")
    router.add_get("/staff/queue", queue.queue_page, name="staff_queue")
    router.add_get("/staff/archive", archive_page.archive_page, name="staff_archive")
    router.add_get("/staff/board", supervisor.supervisor_page, name="staff_supervisor")
    router.add_get("/staff/board/counts", supervisor.counts_fragment, name="staff_counts")
    router.add_get("/staff/export.csv", export.export_csv, name="staff_export")
    router.add_get("/staff/admin/users", admin.users_page, name="staff_users")
    router.add_get("/staff/admin/users/new", admin.new_user_page, name="staff_user_new")
    router.add_post("/staff/admin/users/new", admin.create_user)
    router.add_get(r"/staff/admin/users/{user_id:\d+}", admin.edit_user_page, name="staff_user")
    router.add_post(r"/staff/admin/users/{user_id:\d+}", admin.update_user)
    router.add_post(r"/staff/admin/users/{user_id:\d+}/revoke", admin.revoke_sessions, name="staff_user_revoke")
    router.add_post(
        r"/staff/admin/users/{user_id:\d+}/sessions/{session_id:\d+}/revoke",
        admin.revoke_one_session,
        name="staff_user_session_revoke",
    )
    router.add_post(r"/staff/admin/users/{user_id:\d+}/totp-reset", admin.reset_totp, name="staff_user_totp_reset")
    account.add_routes(router)
    router.add_get("/staff/admin/audit", audit_page.audit_page, name="staff_audit")
    router.add_get("/staff/admin/departments", admin.departments_page, name="staff_departments")
    router.add_post(
        r"/staff/admin/departments/{code:[a-z][a-z0-9_]{1,47}}", admin.toggle_department, name="staff_department"
    )


@require_roles(*STAFF_ROLES)
async def _to_board(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/staff/")


_DEPARTMENTS = DepartmentsCommand()
_PRIVACY = privacy.PrivacyCommand()
FEATURE = Feature(
    "staff",
    setup,
    commands=(
        Command(_DEPARTMENTS.name, _DEPARTMENTS.register, _DEPARTMENTS.run),
        Command(_PRIVACY.name, _PRIVACY.register, _PRIVACY.run, needs_database=True),
    ),
)
