"""Domain errors. Every caller turns them into a clear message: a 4xx in the API, a form error
in a page, never a 500."""

from __future__ import annotations

from django.core.exceptions import ValidationError

__all__ = [
    "ActionNotAllowed",
    "DomainError",
    "StaleVersion",
    "TransitionNotAllowed",
    "ValidationError",
]


class DomainError(Exception):
    """A request the domain refuses. ``code`` is machine-readable, ``message`` for people."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class TransitionNotAllowed(DomainError):
    """A stage move the workflow table forbids, or whose preconditions are not met."""

    code = "transition_not_allowed"

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [message]


class StaleVersion(DomainError):
    """The record changed since the caller read it; nothing was written."""

    code = "stale_version"

    def __init__(self, *, expected: int, current: int) -> None:
        super().__init__(
            f"The record was changed by someone else (you had version {expected}, "
            f"it is now version {current}). Reload it and apply your change again."
        )
        self.expected = expected
        self.current = current


class ActionNotAllowed(DomainError):
    """The user may see the case but their role does not allow this action."""

    code = "action_not_allowed"
