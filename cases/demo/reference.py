"""The demo's invented vocabulary: names, places, courses, support, and how often each stage,
outcome and choice turns up. Every person made from these is invented."""

from __future__ import annotations

import datetime
import itertools

from cases.models import (
    Affiliation,
    ClearanceStatus,
    ContactMode,
    ContactOutcome,
    FormerRole,
    IncidentKind,
    Need,
    Outcome,
    Pillar,
    Profession,
    ReferralSource,
    ReturnPathway,
    RiskLevel,
    Severity,
    Stage,
    UrgentNeed,
)

# Case and person numbers: what ``new_case_number`` and ``new_person_number`` make, drawn a
# chunk at a time.
CASE_PREFIX = "C"
PERSON_PREFIX = "P"
GIVEN_NAMES = [
    "Ahmed",
    "Omar",
    "Ali",
    "Hassan",
    "Yusuf",
    "Fatima",
    "Aisha",
    "Maryam",
    "Zainab",
]
GIVEN_NAMES += [
    "Khalid",
    "Ibrahim",
    "Mustafa",
    "Noor",
    "Huda",
    "Samir",
    "Layla",
    "Karim",
]
FAMILY_NAMES = [
    "al-Jubouri",
    "al-Obeidi",
    "al-Shammari",
    "al-Dulaimi",
    "al-Hamdani",
    "Kareem",
]
FAMILY_NAMES += ["al-Tai", "al-Azzawi", "Saleh", "Mahmoud", "al-Rawi", "al-Ani"]
DISTRICTS = ["Mosul", "Tel Afar", "Sinjar", "Hamdaniya", "Baaj", "Qayyarah", "Hawija"]
COURSES = [
    ("Carpentry", "Ninewa Vocational Centre"),
    ("Tailoring", "Al-Amal Women's Association"),
    ("Mobile phone repair", "Mosul Technical Institute"),
    ("Agriculture and irrigation", "Ninewa Agricultural Extension"),
    ("Small business management", "Partner NGO livelihoods unit"),
    ("Electrical installation", "Mosul Technical Institute"),
]
SUPPORT_KINDS = {
    Pillar.SECURITY: ["Protection plan agreed", "Relocation support"],
    Pillar.LIVELIHOOD: ["Monthly stipend", "Start-up grant", "Job placement"],
    Pillar.BASIC_SERVICES: ["Civil documentation", "Shelter kit", "Health referral"],
    Pillar.PSYCHOSOCIAL: ["Counselling session", "Religious dialogue session"],
    Pillar.COMMUNITY: ["Family mediation", "Tribal reconciliation meeting"],
}
# Choices' value lists, computed once (Django builds a new list on every ``.values``).
PROFESSIONS = Profession.values
FORMER_ROLES = FormerRole.values
RETURN_PATHWAYS = ReturnPathway.values
AFFILIATIONS = Affiliation.values
REFERRAL_SOURCES = ReferralSource.values
URGENT_NEEDS = UrgentNeed.values
OUTCOMES = Outcome.values
RISK_LEVELS = RiskLevel.values
CLEARANCES = ClearanceStatus.values
NEEDS = Need.values
PILLARS = Pillar.values
CONTACT_MODES = ContactMode.values
INCIDENT_KINDS = IncidentKind.values
SEVERITIES = Severity.values
PROFESSION_WEIGHTS = [30, 1, 1, 3, 1, 2, 2, 3, 4, 20, 20, 13]  # in Profession's order
CONTACT_OUTCOMES = [ContactOutcome.MET, ContactOutcome.MISSED, ContactOutcome.PLANNED]
# Contacts before today: met, missed, or still planned (the overdue-marking job's work).
PAST_CONTACT_WEIGHTS = [80, 12, 8]
PAST_CONTACT_CUMULATIVE = list(itertools.accumulate(PAST_CONTACT_WEIGHTS))
STAGE_WEIGHTS = [
    (Stage.INTAKE, 15),
    (Stage.SCREENING, 20),
    (Stage.TRAINING, 25),
    (Stage.MONITORING, 30),
    (Stage.CLOSED, 10),
]
PATH_TO = {
    Stage.INTAKE: [Stage.INTAKE],
    Stage.SCREENING: [Stage.INTAKE, Stage.SCREENING],
    Stage.TRAINING: [Stage.INTAKE, Stage.SCREENING, Stage.TRAINING],
    Stage.MONITORING: [Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING],
}
# Planned contacts reach this far ahead of today.
PLAN_AHEAD = datetime.timedelta(days=60)
# With ``--records``: the records beyond each case's basic history go three quarters to
# monitoring contacts, one quarter to support payments (monthly stipends).
EXTRA_CONTACT_SHARE = 0.75
