"""Log records that say which request they belong to.

``RequestIdFilter`` (attached to the console handler in ``settings.LOGGING``) gives every record
a ``request_id``: the id of the request being served (``X-Request-ID``, also quoted in the body
of a 500), so an operator finds the traceback of the error a user reports; ``-`` outside any
request. Django's own request records carry the request itself, whose id wins: they can be
written after the middleware that binds the context has returned.
"""

from __future__ import annotations

import logging

from . import context


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        record.request_id = (
            getattr(request, "request_id", "") or context.current().request_id or "-"
        )
        return True
