"""The post-release monitoring schedule: how contacts are planned for a case or a set of cases
(:mod:`.planning`, where the rule is written down), and the periodic jobs that keep it current
across whole caseloads (:mod:`.jobs`).
"""

from .jobs import (
    JOB_BATCH,
    contacts_mark_missed,
    monitoring_plan_all,
    threat_context_changed,
    threat_contexts_flag,
)
from .planning import (
    UNKNOWN_RISK_CADENCE,
    Cadence,
    PlanChange,
    cadence_for,
    cases_replan,
    contacts_plan,
    with_cadence,
)

__all__ = [
    "JOB_BATCH",
    "UNKNOWN_RISK_CADENCE",
    "Cadence",
    "PlanChange",
    "cadence_for",
    "cases_replan",
    "contacts_mark_missed",
    "contacts_plan",
    "monitoring_plan_all",
    "threat_context_changed",
    "threat_contexts_flag",
    "with_cadence",
]
