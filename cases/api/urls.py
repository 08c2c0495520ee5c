"""Routes of API v1. Cases by case number, everything else by uuid: no database ids."""

from typing import Any

from django.urls import URLPattern, include, path
from rest_framework.routers import SimpleRouter

from . import me, notifications, partner, reference, surveys, tasks, views
from .exports import CaseExportView
from .imports import CaseImportView

router = SimpleRouter()
router.register("cases", views.CaseViewSet, basename="case")
router.register("outbox", views.OutboxViewSet, basename="outbox")
router.register("failed-tasks", tasks.FailedTaskViewSet, basename="failed-task")
router.register("tokens", views.TokenViewSet, basename="token")
router.register("notifications", notifications.NotificationViewSet, basename="notification")
router.register("survey-questions", surveys.SurveyQuestionViewSet, basename="survey-question")
router.register("competition/benchmarks", reference.BenchmarkViewSet, basename="benchmark")
router.register("competition/threats", reference.ThreatContextViewSet, basename="threat")
router.register("competition/profiles", reference.TargetProfileViewSet, basename="profile")

partner_router = SimpleRouter()
partner_router.register("referrals", partner.PartnerReferralViewSet, basename="partner-referral")
partner_router.register("webhooks", partner.PartnerWebhookViewSet, basename="partner-webhook")

CASE = "cases/<str:case_number>/"
LIST = {"get": "list", "post": "create"}
DETAIL = {"get": "retrieve", "patch": "partial_update"}
READ = {"get": "retrieve"}


def nested(name: str, viewset: Any, *, detail: dict[str, str] | None = None) -> list[URLPattern]:
    routes = [path(f"{CASE}{name}/", viewset.as_view(LIST), name=f"case-{name}-list")]
    if detail:
        routes.append(
            path(
                f"{CASE}{name}/<uuid:uuid>/",
                viewset.as_view(detail),
                name=f"case-{name}-detail",
            )
        )
    return routes


urlpatterns = [
    path(
        f"{CASE}intake/",
        views.IntakeView.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="case-intake",
    ),
    *nested("screenings", views.ScreeningViewSet, detail=DETAIL),
    *nested("enrolments", views.EnrolmentViewSet, detail=DETAIL),
    *nested("support", views.SupportViewSet, detail=READ),
    *nested("contacts", views.ContactViewSet, detail=DETAIL),
    *nested("incidents", views.IncidentViewSet, detail=READ),
    *nested("consents", views.ConsentViewSet, detail=READ),
    *nested("surveys", surveys.SurveyViewSet),
    path(
        f"{CASE}consents/<uuid:uuid>/withdraw/",
        views.ConsentViewSet.as_view({"post": "withdraw"}),
        name="case-consents-withdraw",
    ),
    *nested("approvals", views.ApprovalViewSet, detail=READ),
    path(
        f"{CASE}approvals/<uuid:uuid>/decision/",
        views.ApprovalViewSet.as_view({"post": "decision"}),
        name="case-approvals-decision",
    ),
    *nested("plans", views.PlanViewSet, detail=READ),
    *nested("referrals", views.ReferralViewSet, detail=READ),
    path(
        f"{CASE}referrals/<uuid:uuid>/withdraw/",
        views.ReferralViewSet.as_view({"post": "withdraw"}),
        name="case-referrals-withdraw",
    ),
    path(
        "competition/summary/",
        views.CompetitionSummaryView.as_view(),
        name="competition-summary",
    ),
    path("me/", me.MeView.as_view(), name="me"),
    path("cases/export.csv", CaseExportView.as_view(), name="case-export"),
    path("partner/", include(partner_router.urls)),
    path("cases/import/", CaseImportView.as_view(), name="case-import"),
    path("", include(router.urls)),
]
