"""Domain errors: each carries a stable code, a Russian message for people and details."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    ``message`` is Russian and shown to users as is (web, CLI, IVR logs);
    ``code`` is stable for programs (HTTP mapping, Open311 errors, tests).
    """

    code = "domain_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    code = "not_found"


class TicketNotFound(NotFound):
    code = "ticket_not_found"

    def __init__(self, number: str) -> None:
        super().__init__(f"Заявка № {number} не найдена", details={"number": number})


class IllegalTransition(DomainError):
    """A status move the lifecycle does not allow (or not for this role)."""

    code = "illegal_transition"


class MissingField(DomainError):
    """A move or edit that lacks a field the rules require (note, department, ...)."""

    code = "missing_field"

    def __init__(self, message: str, *, field: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={"field": field, **(details or {})})
        self.field = field


class ConflictError(DomainError):
    """Somebody changed the ticket since this user loaded it."""

    code = "conflict"

    def __init__(self, number: str, expected: int, actual: int | None) -> None:
        super().__init__(
            f"Заявку № {number} уже изменил другой сотрудник. Обновите страницу и повторите действие.",
            details={"number": number, "expected_version": expected, "actual_version": actual},
        )


class PermissionDenied(DomainError):
    code = "permission_denied"


class ValidationError(DomainError):
    """Bad input for a field, with the field named so a form can show it in place."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field
