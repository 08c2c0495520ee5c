"""The admin is for configuration. Case data is read-only here and scoped by the selectors;
identity fields never appear; every configuration change is audited.

Django's autodiscovery imports this package, and importing each module registers its pages.
"""

from . import accounts, background, cadences, cases, reference, site, surveys

__all__ = ["accounts", "background", "cadences", "cases", "reference", "site", "surveys"]
