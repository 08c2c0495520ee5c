"""The retention job: after a programme's retention period, a closed case's person is made
anonymous. Their identity fields and blind indexes are erased, and so is the free text of the
case's records that can name or describe them. The pseudonymous statistics stay: stages and
their dates, risk, outcomes, support given, contacts kept, incidents by kind, survey scores.

A person is anonymised once every case they have is closed and past its programme's
retention period (``closed_at`` + ``Programme.retention_days``; empty means never). A
person who still has an open case, or one still within its period, keeps their identity:
erasing it would take it from the case that is still being worked.

The whole caseload is handled in a fixed number of UPDATE statements, whatever the number of
cases: the encrypted columns are set to empty without being decrypted. ``anonymised_at``
marks who is done, so a second run finds nobody and changes nothing; each run that erases
anything writes one audit event listing the case numbers.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cases.models import (
    IDENTITY_FIELDS,
    Approval,
    AuditAction,
    Case,
    ConsentRecord,
    Incident,
    IntakeRecord,
    MonitoringContact,
    PlanGoal,
    Programme,
    Referral,
    Returnee,
    ScreeningAssessment,
    Stage,
    StageTransition,
    SupportProvision,
)

from .audit import audit_record

# Free text that can carry personal data, erased with the identity; per model, the
# queryset path from the model to the person, and the value each field is set to.
RETURNEE_ERASED: dict[str, Any] = {
    **{name: "" for name in IDENTITY_FIELDS},
    "date_of_birth": None,
    "national_id_index": "",
    "phone_index": "",
    "skills": "",
}
RECORD_TEXT_ERASED: tuple[tuple[type[models.Model], str, dict[str, Any]], ...] = (
    (IntakeRecord, "case__returnee", {"notes": ""}),
    (
        ScreeningAssessment,
        "case__returnee",
        {"answers": {}, "decision_reason": "", "security_findings": ""},
    ),
    (SupportProvision, "case__returnee", {"notes": ""}),
    (MonitoringContact, "case__returnee", {"concerns": ""}),
    (Incident, "case__returnee", {"description": ""}),
    (Referral, "case__returnee", {"note": "", "decline_reason": "", "outcome": ""}),
    (Approval, "case__returnee", {"request_note": "", "comment": ""}),
    (PlanGoal, "plan__case__returnee", {"goal": "", "planned_service": ""}),
    (StageTransition, "case__returnee", {"reason": ""}),
    (ConsentRecord, "returnee", {"notes": ""}),
)


def _due_condition(today: datetime.date) -> Q | None:
    """Cases closed and past their programme's retention period on ``today``: a period of N
    days ends on the day N days after the day of closing, and the case is due from then.
    One query for the programmes (a handful), none per case."""
    condition: Q | None = None
    start_of_today = timezone.make_aware(
        datetime.datetime.combine(today, datetime.time.min), timezone.get_current_timezone()
    )
    for programme_id, days in Programme.objects.filter(retention_days__isnull=False).values_list(
        "id", "retention_days"
    ):
        if days is None:  # excluded by the filter; mypy cannot know
            continue
        # Closed on day D is due on day D + days: closed before the start of the day after
        # (today - days).
        cutoff = start_of_today - datetime.timedelta(days=days) + datetime.timedelta(days=1)
        due = Q(programme_id=programme_id, closed_at__lt=cutoff)
        condition = due if condition is None else condition | due
    return condition


@transaction.atomic
def retention_anonymise_due(*, today: datetime.date | None = None) -> int:
    """Anonymise every person whose cases are all closed and past their retention period.
    Returns how many people were anonymised (0 on a second run)."""
    today = today or timezone.localdate()
    due = _due_condition(today)
    if due is None:
        return 0
    due_cases = Case.objects.filter(due, stage=Stage.CLOSED)
    not_due = Case.objects.filter(returnee=OuterRef("pk")).exclude(pk__in=due_cases.values("pk"))
    now = timezone.now()
    # The marker first, in one statement that picks the people: every later statement finds
    # them by it, so no list of ids travels back and forth, and a racing run that waited on
    # these rows finds them taken.
    anonymised = (
        Returnee.objects.filter(anonymised_at__isnull=True)
        .filter(Exists(due_cases.filter(returnee=OuterRef("pk"))))
        .exclude(Exists(not_due))
        .update(
            anonymised_at=now,
            updated_at=now,
            version=models.F("version") + 1,
            **RETURNEE_ERASED,
        )
    )
    if not anonymised:
        return 0
    people = Returnee.objects.filter(anonymised_at=now)
    for model, path, values in RECORD_TEXT_ERASED:
        model._default_manager.filter(**{f"{path}__in": people}).update(**values)
    numbers = sorted(Case.objects.filter(returnee__in=people).values_list("case_number", flat=True))
    audit_record(
        actor=None,
        action=AuditAction.RETENTION_ANONYMISE,
        object_type="returnee",
        object_id=f"retention-{today.isoformat()}",
        fields=sorted(RETURNEE_ERASED),
        detail={"people": anonymised, "cases": numbers},
    )
    return anonymised
