"""Pages: the signed-in user's own notifications (missed and escalated contacts, threat
contexts, incidents), newest first, unread ones marked; each read or all at once.

Another user's notification does not exist here (404), and a notification names its case
only by number, linking to the case file (which checks scope again)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from cases import selectors
from cases.services.notifications import (
    notification_mark_all_read,
    notification_mark_read,
    notification_message,
)
from cases.web.redirects import safe_next

from .common import staff_page, staff_user

PAGE_SIZE = 50


def _back(request: HttpRequest) -> str:
    """Where a form returns to: its ``next`` when it is a page of this site, else the list."""
    return safe_next(request, reverse("web:notifications"), sources=("POST",))


@staff_page
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """``?unread=1``: only the unread ones."""
    only_unread = request.GET.get("unread") == "1"
    notes = selectors.notification_list(user=request.user, unread=True if only_unread else None)
    page = Paginator(notes, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(note, notification_message(note)) for note in page.object_list]
    return render(
        request,
        "web/notifications/list.html",
        {
            "page_obj": page,
            "rows": rows,
            "only_unread": only_unread,
            "unread_total": selectors.notification_unread_count(user=request.user),
        },
    )


@staff_page
@require_POST
def notification_read(request: HttpRequest, notification_uuid: str) -> HttpResponse:
    note = selectors.notification_get(user=request.user, notification_uuid=notification_uuid)
    notification_mark_read(actor=staff_user(request), notification=note)
    messages.success(request, _("Notification marked as read."))
    return HttpResponseRedirect(_back(request))


@staff_page
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    changed = notification_mark_all_read(actor=staff_user(request))
    messages.success(
        request,
        ngettext(
            "%(count)d notification marked as read.",
            "%(count)d notifications marked as read.",
            changed,
        )
        % {"count": changed},
    )
    return HttpResponseRedirect(_back(request))


urlpatterns: list[URLPattern] = [
    path("", notification_list, name="notifications"),
    path("read-all/", notification_read_all, name="notifications-read-all"),
    path("<uuid:notification_uuid>/read/", notification_read, name="notification-read"),
]
