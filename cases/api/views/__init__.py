"""Staff API views. Every view starts from the scoped reads and writes through the services;
views only translate HTTP to calls and back. One module per seam: what every view shares, the
cases, their records, and what the programme runs beside them."""

from .cases import CaseViewSet
from .common import (
    IF_MATCH,
    NoStoreMixin,
    OneValueQueryMixin,
    etag,
    expected_version,
    staff,
    with_etag,
)
from .operations import CompetitionSummaryView, OutboxQuerySerializer, OutboxViewSet, TokenViewSet
from .records import (
    ApprovalViewSet,
    CaseRecordViewSet,
    ConsentViewSet,
    ContactViewSet,
    EnrolmentViewSet,
    IncidentViewSet,
    IntakeView,
    PlanViewSet,
    ReferralViewSet,
    ScreeningViewSet,
    SupportViewSet,
)

__all__ = [
    "IF_MATCH",
    "ApprovalViewSet",
    "CaseRecordViewSet",
    "CaseViewSet",
    "CompetitionSummaryView",
    "ConsentViewSet",
    "ContactViewSet",
    "EnrolmentViewSet",
    "IncidentViewSet",
    "IntakeView",
    "NoStoreMixin",
    "OneValueQueryMixin",
    "OutboxQuerySerializer",
    "OutboxViewSet",
    "PlanViewSet",
    "ReferralViewSet",
    "ScreeningViewSet",
    "SupportViewSet",
    "TokenViewSet",
    "etag",
    "expected_version",
    "staff",
    "with_etag",
]
