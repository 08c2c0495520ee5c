"""What the page frame needs on every page: which sections to offer in the navigation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from cases import selectors


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith("/"):
        return {}

    def supervises() -> bool:
        return selectors.supervised_teams(user=user).exists()

    def unread_notifications() -> int:
        return selectors.notification_unread_count(user=user)

    # Lazy: pages that never render the navigation pay no query.
    return {"nav_supervises": supervises, "nav_unread_notifications": unread_notifications}
