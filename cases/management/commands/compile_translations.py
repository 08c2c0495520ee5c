"""Compile every ``locale/*/LC_MESSAGES/django.po`` into the ``.mo`` file Django reads.

Pure Python (Babel), so no GNU gettext is needed to run the system; ``make run``, ``make test``
and the Docker build call it. Adding a language needs only its ``.po`` file.
"""

from __future__ import annotations

from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Compile the translation catalogues under LOCALE_PATHS (.po -> .mo)."

    def handle(self, *args: Any, **options: Any) -> None:
        compiled = 0
        for root in settings.LOCALE_PATHS:
            for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
                mo_path = po_path.with_suffix(".mo")
                if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                    continue
                with po_path.open("rb") as handle:
                    catalog = read_po(handle, locale=po_path.parts[-3])
                errors = [
                    (message.id, problems) for message, problems in catalog.check() if problems
                ]
                if errors:
                    raise CommandError(f"{po_path}: {errors[0][0]!r}: {errors[0][1][0]}")
                with mo_path.open("wb") as handle:
                    write_mo(handle, catalog, use_fuzzy=False)
                compiled += 1
        self.stdout.write(f"Compiled {compiled} catalogue(s).")
