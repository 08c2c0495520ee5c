"""What the admin's pages share: configuration saved through the services (so every change is
audited), read-only pages, and reference data scoped to the programmes a user manages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from cases import selectors
from cases.selectors import Actor
from cases.services.config import config_delete, config_save


def request_actor(request: HttpRequest) -> Actor:
    # The admin only lets authenticated staff this far.
    assert isinstance(request.user, Actor)
    return request.user


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        config_save(
            actor=request_actor(request), instance=obj, changed_fields=list(form.changed_data)
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        config_delete(actor=request_actor(request), instance=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():  # all or none
            for obj in queryset:
                config_delete(actor=request_actor(request), instance=obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProgrammeReferenceAdmin(AuditedAdmin):
    """Reference data of the competition lens, scoped like everything else: a user sees the
    shipped defaults and their programmes' rows, and changes only the programmes they manage."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return selectors.reference_list(user=request.user, model=self.model)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        found = super().get_object(request, object_id, from_field)
        if found is None:  # another programme's row looks like a missing one
            raise Http404("Not found.")
        return found

    def _manages(self, request: HttpRequest, obj: Any) -> bool:
        managed = selectors.programmes_managed(user=request.user)
        if obj is None:
            return managed.exists()
        return obj.programme_id is not None and managed.filter(pk=obj.programme_id).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._manages(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "programme":
            kwargs["queryset"] = selectors.programmes_managed(user=request.user)
            kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
