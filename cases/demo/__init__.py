"""Synthetic demo data: a programme with sites, teams, one login per role and returnees in
every stage, loaded in bulk. ``seed(...)`` is the way in; every person here is invented.

The defaults make the small demo that ``make run`` serves: four teams, the eight named demo
users. The benchmark asks for a national programme instead (``teams=50, staff=500,
records=2_000_000, skew=True``): more teams over more sites, generated caseworkers and
supervisors, a target for the number of stage records and monitoring contacts, and uneven team
sizes and caseloads. The named demo users stay exactly as they are in every case.
"""

from cases.demo.loading import SeedError
from cases.demo.logins import DEMO_TOTP_KEY_HEX, DEMO_TOTP_SECRET_BASE32, DEMO_USERS
from cases.demo.organisation import DEMO_TEAM_NAMES, PROGRAMME_NAME
from cases.demo.rows import PEOPLE_CASES, WRITE_ORDER
from cases.demo.seeding import Seeded, seed

__all__ = [
    "DEMO_TEAM_NAMES",
    "DEMO_TOTP_KEY_HEX",
    "DEMO_TOTP_SECRET_BASE32",
    "DEMO_USERS",
    "PEOPLE_CASES",
    "PROGRAMME_NAME",
    "WRITE_ORDER",
    "SeedError",
    "Seeded",
    "seed",
]
