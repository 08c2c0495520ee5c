"""Where the current action comes from (request id and client address), for the audit log.

Set by ``cases.middleware.RequestContextMiddleware`` for web and API requests and by Celery
tasks for background work; read by ``cases.services.audit``.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "request_context", default=_EMPTY
)


def current() -> RequestContext:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bound(*, request_id: str, ip: str | None = None) -> Iterator[RequestContext]:
    token = _current.set(RequestContext(request_id=request_id, ip=ip))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
