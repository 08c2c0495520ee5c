"""The admin is for configuration. Case data is read-only here and scoped by the selectors;
identity fields never appear; every configuration change is audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import selectors
from cases.models import (
    AuditEvent,
    Benchmark,
    Case,
    Membership,
    PartnerOrganisation,
    Programme,
    Site,
    SurveyQuestion,
    TargetProfile,
    Team,
    ThreatContext,
)
from cases.selectors import Actor
from cases.services.audit import audit_record
from cases.services.config import config_delete, config_save
from cases.services.surveys import survey_question_check
from cases.web.redirects import safe_next


class SecondFactorAdminSite(OTPAdminSite):
    """The admin needs the second factor too (django-otp: an unverified session counts as not
    staff), and has no login form of its own: there is one login, the web app's."""

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        verified = getattr(request.user, "is_verified", None)
        if request.user.is_authenticated and callable(verified) and verified():
            # Fully signed in but not admin staff: another login would only loop back here.
            raise PermissionDenied
        next_url = safe_next(
            request, reverse("admin:index", current_app=self.name), sources=("GET",)
        )
        return HttpResponseRedirect(f"{reverse('web:login')}?{urlencode({'next': next_url})}")


# The default site keeps its name and registry; only its class changes (django-otp's way).
admin.site.__class__ = SecondFactorAdminSite


def _actor(request: HttpRequest) -> Actor:
    # The admin only lets authenticated staff this far.
    assert isinstance(request.user, Actor)
    return request.user


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        config_save(actor=_actor(request), instance=obj, changed_fields=list(form.changed_data))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        config_delete(actor=_actor(request), instance=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():  # all or none
            for obj in queryset:
                config_delete(actor=_actor(request), instance=obj)


@admin.register(Programme)
class ProgrammeAdmin(AuditedAdmin):
    list_display = ["name", "country", "region", "allow_self_approval"]
    search_fields = ["name"]


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["name", "programme", "governorate", "district"]
    list_filter = ["programme"]


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "site"]
    list_filter = ["site__programme"]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "role", "team", "programme"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]


@admin.register(PartnerOrganisation)
class PartnerOrganisationAdmin(AuditedAdmin):
    list_display = ["name", "programme", "is_active"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Cases as the selectors scope them; changes go through the services (API and pages)."""

    list_display = [
        "case_number",
        "stage",
        "risk_level",
        "team",
        "caseworker",
        "opened_at",
    ]
    list_filter = ["stage", "risk_level"]
    search_fields = ["case_number"]
    fields = [
        "case_number",
        "programme",
        "team",
        "caseworker",
        "stage",
        "stage_entered_at",
        "opened_at",
        "closed_at",
        "outcome",
        "risk_level",
        "version",
    ]
    list_select_related = ["team", "caseworker"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return selectors.case_list(user=request.user)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Case:
        # The admin would redirect with "does not exist"; out of scope must look like missing.
        case: Case | None = super().get_object(request, object_id, from_field)
        if case is None:
            raise Http404("No such case.")
        return case

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_id", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "case_number", "actor_label", "request_id"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return selectors.audit_event_list(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and selectors.is_auditor(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


# Staff accounts and groups decide who reaches case data: their changes are audited too.
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # The password view saves its form itself, outside save_model.
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                audit_record(
                    actor=request.user,
                    action="user.password_change",
                    object_type="user",
                    object_id=id,
                    fields=["password"],
                )
        return response


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass


# --- the competition's reference data: maintained by programme managers, every change audited --


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


@admin.register(Benchmark)
class BenchmarkAdmin(ProgrammeReferenceAdmin):
    """Versioned: a saved benchmark's figures stay as they were (history); to revise one,
    close it with "valid to" and add the new version."""

    list_display = [
        "competing_stage",
        "programme",
        "region",
        "days_to_reach",
        "days_in_stage",
        "contacts_per_month",
        "is_estimate",
        "valid_from",
        "valid_to",
    ]
    list_filter = ["competing_stage", "programme", "is_estimate"]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(self.readonly_fields)
        return [f.name for f in Benchmark._meta.concrete_fields if f.name not in ("id", "valid_to")]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = _actor(request)
        super().save_model(request, obj, form, change)


@admin.register(ThreatContext)
class ThreatContextAdmin(ProgrammeReferenceAdmin):
    list_display = ["kind", "programme", "starts_on", "ends_on"]
    list_filter = ["kind", "programme"]
    readonly_fields = ["entered_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Saved here as through the API: the cases in its districts are re-planned at once
        and flagged when the change commits."""
        from cases.services.monitoring import threat_context_changed

        if not change:
            obj.entered_by = _actor(request)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            threat_context_changed(threat=obj, actor=_actor(request))


@admin.register(TargetProfile)
class TargetProfileAdmin(ProgrammeReferenceAdmin):
    list_display = ["name", "programme", "detention_history", "is_active"]
    list_filter = ["programme", "is_active"]
    search_fields = ["name"]


# --- second-factor devices ---------------------------------------------------------------
# django-otp's own admin pages show each TOTP key and backup code in clear, which would let an
# admin pass as any user. Here an admin sees only which devices exist and can delete them (a
# lost phone: the user enrols again at their next login); deleting is audited.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(TOTPDevice, StaticDevice)
class SecondFactorDeviceAdmin(AuditedAdmin):
    list_display = ("user", "name", "confirmed")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = ("user", "name", "confirmed")
    readonly_fields = ("user", "name", "confirmed")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- the reintegration survey's questions (issue #6): data, not code; every change audited ----


class SurveyQuestionForm(forms.ModelForm):
    """Refuses a question that cannot be asked or scored (see ``survey_question_check``)."""

    class Meta:
        model = SurveyQuestion
        fields = [
            "programme",
            "code",
            "dimension",
            "texts",
            "choices",
            "weight",
            "order",
            "is_active",
        ]
        help_texts = {
            "texts": _(
                'The wording per language, e.g. {"en": "…", "ar": "…"}; English is required.'
            ),
            "choices": _(
                'At least two, e.g. [{"value": "yes", "score": 1, "labels": {"en": "Yes", '
                '"ar": "نعم"}}, …]; each score from 0 (worst) to 1 (best).'
            ),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.has_error("texts") and not self.has_error("choices"):
            try:
                survey_question_check(
                    texts=cleaned.get("texts"),
                    choices=cleaned.get("choices"),
                    # An unreadable weight already has its error: check the rest.
                    weight=1 if self.has_error("weight") else cleaned.get("weight"),
                )
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    for message in errors:
                        self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(SurveyQuestion)
class SurveyQuestionAdmin(ProgrammeReferenceAdmin):
    """The shared questions and those of the user's programmes. A programme's manager adds
    and changes its own (one with a shared question's code replaces it in that programme);
    the shared defaults are changed by a superuser."""

    form = SurveyQuestionForm
    list_display = ["code", "dimension", "programme", "weight", "order", "is_active"]
    list_filter = ["dimension", "programme", "is_active"]
    search_fields = ["code"]

    def _manages(self, request: HttpRequest, obj: Any) -> bool:
        if request.user.is_superuser and (obj is None or obj.programme_id is None):
            return True
        return super()._manages(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "programme" and request.user.is_superuser:
            field.required = False  # empty: a shared question, asked in every programme
        return field


# --- monitoring cadences (issue #6): per programme and risk level, maintained by the programme's
# managers; every change is audited and re-plans the programme's cases in the same transaction.
# (Imported here, not at the top, because this section was appended while others edited the
# file; the imports can move up with the rest.)

from cases.models import Case as _Case  # noqa: E402
from cases.models import MonitoringCadence  # noqa: E402
from cases.services.monitoring import cases_replan  # noqa: E402


@admin.register(MonitoringCadence)
class MonitoringCadenceAdmin(ProgrammeReferenceAdmin):
    """How often each risk level is contacted, and for how long, in one programme; a
    programme without a row for a risk level uses the shipped default."""

    list_display = [
        "programme",
        "risk_level",
        "interval_days",
        "threat_interval_days",
        "duration_months",
        "updated_at",
    ]
    list_filter = ["programme", "risk_level"]

    def _replan(self, request: HttpRequest, programme_ids: set[int]) -> None:
        cases_replan(
            _Case.objects.filter(programme_id__in=programme_ids),
            actor=_actor(request),
            reason="cadence",
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            self._replan(request, {obj.programme_id})

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            self._replan(request, {obj.programme_id})

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            programme_ids = set(queryset.values_list("programme_id", flat=True))
            super().delete_queryset(request, queryset)
            self._replan(request, programme_ids)


# --- dead letters of background tasks: read-only, with a retry action (audited) -------------

from django.contrib import messages  # noqa: E402

from cases.models import FailedTask  # noqa: E402
from cases.services.errors import DomainError  # noqa: E402
from cases.services.tasks_health import failed_task_retry  # noqa: E402


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
                failed_task_retry(failed=failed, actor=_actor(request))
            except DomainError as exc:
                self.message_user(request, f"{failed.task_name}: {exc.message}", messages.ERROR)
                continue
            queued += 1
        if queued:
            self.message_user(request, _("Queued again: %d.") % queued, messages.SUCCESS)
        if already:
            self.message_user(request, _("Already queued again: %d.") % already, messages.WARNING)


# --- the outbox: read-only, each event with its delivery log ---------------------------------

from cases.models import DeliveryAttempt, OutboxEvent  # noqa: E402


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
