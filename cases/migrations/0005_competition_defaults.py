"""The shipped defaults for the competition lens, drawn from DESIGN.md §1 and its source:
Ingram & Mohammed, "The Islamic State's Defection & Reintegration Strategies", Program on
Extremism, George Washington University, 2022. Figures the study does not give are marked as
programme estimates to be reviewed. Programme managers replace or extend all of it."""

import datetime

from django.db import migrations

SOURCE = (
    "Ingram & Mohammed, 'The Islamic State's Defection & Reintegration Strategies', "
    "Program on Extremism, George Washington University, 2022"
)
URL = "https://extremism.gwu.edu/"
SINCE = datetime.date(2022, 1, 1)

BENCHMARKS = [
    {
        "competing_stage": "repentance",
        "days_to_reach": 7,
        "days_in_stage": 3,
        "pillars_offered": ["security", "livelihood"],
        "source": SOURCE + ": a repentance centre opened within days of taking Mosul; "
        "protection and livelihood packages were offered. Day counts: programme estimate.",
        "is_estimate": True,
    },
    {
        "competing_stage": "sharia_institute",
        "days_in_stage": 45,
        "pillars_offered": ["psychosocial", "community", "livelihood", "security"],
        "source": SOURCE + ": Shari'a Institute course, exams and a judge's interview; a Tribal "
        "Affairs office reintegrated whole tribes for protection and socioeconomic "
        "opportunities. Duration: programme estimate.",
        "is_estimate": True,
    },
    {
        "competing_stage": "post_repentance_monitoring",
        "contacts_per_month": 4,
        "pillars_offered": ["security"],
        "source": SOURCE + ": the repentant were monitored after processing. Contact "
        "intensity: programme estimate.",
        "is_estimate": True,
    },
]

PROFILES = [
    {
        "name": "Prized skills",
        "professions": [
            "explosives",
            "chemistry",
            "engineering",
            "science",
            "medicine",
            "it",
            "military",
        ],
        "source": SOURCE + ": skilled professions are prized (explosives, chemistry, "
        "engineering, science, military).",
    },
    {
        "name": "Decisive minorities",
        "former_roles": ["tribal_leader", "business_leader", "official", "police", "military"],
        "source": SOURCE + ": when weak, the group courts tribal leaders, politicians, police "
        "and military, business leaders and officials.",
    },
    {
        "name": "Detention history",
        "detention_history": True,
        "source": SOURCE + ": prisons are priority recruiting ground.",
    },
]


def install(apps, schema_editor):
    Benchmark = apps.get_model("cases", "Benchmark")
    TargetProfile = apps.get_model("cases", "TargetProfile")
    ThreatContext = apps.get_model("cases", "ThreatContext")
    for row in BENCHMARKS:
        Benchmark.objects.create(programme=None, valid_from=SINCE, source_url=URL, **row)
    for row in PROFILES:
        TargetProfile.objects.create(programme=None, **row)
    ThreatContext.objects.create(
        programme=None,
        districts=["Mosul"],
        kind="anchor_point",
        starts_on=datetime.date(2014, 6, 10),
        source=SOURCE + ": the group returns to strategic anchor points, places of past success.",
        notes="Example shipped with the system: review it against current information.",
    )


def remove(apps, schema_editor):
    for name in ("Benchmark", "TargetProfile", "ThreatContext"):
        apps.get_model("cases", name).objects.filter(programme=None).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_competition")]

    operations = [migrations.RunPython(install, remove)]
