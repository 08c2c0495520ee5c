"""The background work, read-only: tasks that failed for good (with an audited retry) and the
outbox of webhooks and emails with each event's delivery log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _

from cases import selectors
from cases.models import DeliveryAttempt, FailedTask, OutboxEvent
from cases.services.errors import DomainError
from cases.services.tasks_health import failed_task_retry

from .base import ReadOnlyAdmin, request_actor


@admin.register(FailedTask)
class FailedTaskAdmin(ReadOnlyAdmin):
    """Tasks that failed after their last retry. "Retry" queues each selected one again with
    the same ids (a new task id); one that fails again leaves a new row."""

    list_display = ["task_name", "task_id", "args", "retries", "failed_at", "retried_at"]
    list_filter = ["task_name", ("retried_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_id", "task_name"]
    readonly_fields = [
        "uuid",
        "task_name",
        "task_id",
        "args",
        "kwargs",
        "error",
        "retries",
        "failed_at",
        "retried_at",
    ]
    actions = ["retry"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and selectors.can_manage_failed_tasks(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[FailedTask]:
        return selectors.failed_task_list(user=request.user)

    @admin.action(description=_("Retry the selected failed tasks"), permissions=["view"])
    def retry(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        waiting = list(queryset.filter(retried_at__isnull=True))
        already = queryset.count() - len(waiting)
        queued = 0
        for failed in waiting:
            try:
                failed_task_retry(failed=failed, actor=request_actor(request))
            except DomainError as exc:
                self.message_user(request, f"{failed.task_name}: {exc.message}", messages.ERROR)
                continue
            queued += 1
        if queued:
            self.message_user(request, _("Queued again: %d.") % queued, messages.SUCCESS)
        if already:
            self.message_user(request, _("Already queued again: %d.") % already, messages.WARNING)


class DeliveryAttemptInline(admin.TabularInline):
    """Every attempt to deliver the event, an abandoned one (its worker died mid-send)
    included. Written only by the outbox."""

    model = DeliveryAttempt
    fields = readonly_fields = (
        "number",
        "started_at",
        "finished_at",
        "outcome",
        "status_code",
        "error",
        "worker",
        "duration_ms",
    )
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # whoever may see the event (checked by its admin) sees its attempts

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    """Webhooks and emails waiting, sent or dead-lettered, as ``/api/v1/outbox/`` scopes them
    (a manager of the programme), with their delivery log. The payload is not shown."""

    list_display = ["uuid", "channel", "topic", "partner", "status", "attempts", "created_at"]
    list_filter = ["status", "channel"]
    search_fields = ["uuid"]
    fields = readonly_fields = (
        "uuid",
        "channel",
        "topic",
        "partner",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "last_error",
    )
    list_select_related = ["partner"]
    inlines = [DeliveryAttemptInline]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxEvent]:
        return selectors.outbox_event_list(user=request.user)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: Any = None
    ) -> OutboxEvent:
        # Out of scope must look like missing, not redirect with "does not exist".
        event: OutboxEvent | None = super().get_object(request, object_id, from_field)
        if event is None:
            raise Http404("No such outbox event.")
        return event

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and selectors.programmes_managed(user=request.user).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
