"""All-or-nothing import of returnees, each with a case at intake, from a CSV file.

Every row is checked first by the rules a single case is opened with (``NEW_CASE_RULES`` and
``consent_build``, as ``case_open`` applies them), and national IDs are checked for repeats in
the file and against everyone registered (through the blind index). One bad row and nothing is
written: the caller gets every error with its row and column. Otherwise all rows are written in
one transaction by bulk inserts (COPY on PostgreSQL), identity encrypted and indexed as for a
single case, and audited as a whole, as ``cases.bulkload`` asks of its callers: one
``case.import`` event naming the actor, the team, the fields written, the row count and every
new case number. (An event per case, as ``case_open`` writes, made imports about a third
slower: the audit table's many indexes are the costliest insert of all.)

The file: UTF-8 (a byte-order mark is fine), comma-separated, one header row; column names are
matched without regard to case or surrounding spaces, in any order.

* Required columns: return_pathway, return_date, first_contact_date, intake_date,
  referral_source, consent_legal_basis, consent_scope.
* Identity, optional, encrypted at rest: given_name, family_name, aliases, date_of_birth,
  national_id, phone, address.
* Profile, optional: sex, year_of_birth, nationality, origin_district, current_district,
  household_size, profession, skills, former_role, detention_history, affiliation.
* Intake, optional: urgent_needs, intake_notes. Consent, optional: consent_given_on (empty for
  today), consent_notes.
* caseworker, optional: the username of a caseworker of the team; empty means the importer if
  they are a caseworker of the team, else unassigned (as ``case_open`` does).

Dates are YYYY-MM-DD; choices take their stored values (``camp_repatriation``); lists
(urgent_needs, consent_scope) are separated by ``;``; detention_history is yes/no, true/false or
1/0. An empty cell is a value left out. A cell holds no more than its column (the input rules
of ``cases.validators``, which name the column) and never more than the csv module reads
(131,072 characters): such a cell is refused by its row and column, and the file is read no
further. Rows are numbered as a spreadsheet shows them: the header is row 1, the first person
row 2; row 0 is the file as a whole. At most 50,000 rows and 20 MB (settings IMPORT_MAX_ROWS,
IMPORT_MAX_BYTES).

The modules follow the steps: ``reading`` reads the file and checks its header against the
columns, ``rows`` turns each row into checked values, ``importing`` checks the file as a whole
(repeats in it, and people already registered) and then writes it or refuses it, and
``writing`` does the bulk inserts and their audit event.
"""

from .importing import (
    ImportInvalid,
    ImportResult,
    ImportTooLarge,
    import_team,
    returnees_import,
)
from .reading import (
    COLUMN_MAX_LENGTH,
    COLUMNS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    MAX_LISTED_ERRORS,
    REQUIRED_COLUMNS,
    Column,
    RowError,
    max_bytes,
    max_rows,
)

__all__ = [
    "COLUMNS",
    "COLUMN_MAX_LENGTH",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "MAX_LISTED_ERRORS",
    "REQUIRED_COLUMNS",
    "Column",
    "ImportInvalid",
    "ImportResult",
    "ImportTooLarge",
    "RowError",
    "import_team",
    "max_bytes",
    "max_rows",
    "returnees_import",
]
