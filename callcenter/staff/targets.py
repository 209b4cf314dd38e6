"""Service-level targets per ticket: what makes a row red, and the limit its live timer runs to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.domain.tickets import Status, Targets, is_overdue
from callcenter.reference import ReferenceData
from callcenter.tickets.schemas import TicketView


class TargetBook:
    """Targets from the settings (dispatch) and each category (accept, done)."""

    def __init__(self, reference: ReferenceData, dispatch_target_seconds: int) -> None:
        self._reference = reference
        self._dispatch = timedelta(seconds=dispatch_target_seconds)

    def targets(self, category: str | None) -> Targets:
        if category and self._reference.has_category(category):
            cat = self._reference.category(category)
            return Targets(
                dispatch=self._dispatch,
                accept=timedelta(minutes=cat.accept_target_minutes),
                done=timedelta(hours=cat.done_target_hours),
            )
        return Targets(dispatch=self._dispatch)

    def limit(self, ticket: TicketView) -> timedelta | None:
        """The target of the stage the ticket waits in; None once nobody is waiting on staff."""
        targets = self.targets(ticket.category)
        return {Status.NEW: targets.dispatch, Status.DISPATCHED: targets.accept, Status.IN_PROGRESS: targets.done}.get(
            ticket.status
        )

    def overdue(self, ticket: TicketView, now: datetime | None = None) -> bool:
        since = (now or datetime.now(UTC)) - (ticket.last_change_at or ticket.created_at)
        return is_overdue(ticket.status, since, self.targets(ticket.category))

    def row_classes(self, ticket: TicketView, now: datetime | None = None) -> str:
        """CSS classes of a board row: the status, ``overdue`` (red), ``draft``."""
        classes = [f"status-{ticket.status.value}"]
        if self.overdue(ticket, now):
            classes.append("overdue")
        if ticket.is_draft:
            classes.append("draft")
        return " ".join(classes)
