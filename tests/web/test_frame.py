"""The page frame: languages found from the catalogues, compiled without GNU gettext, the
language switcher, and right-to-left Arabic."""

from __future__ import annotations

import shutil

import pytest
from django.core.management import call_command
from django.urls import reverse

from reintegration.settings import BASE_DIR, languages_in


def test_a_new_language_needs_only_its_po_file(tmp_path):
    shutil.copytree(BASE_DIR / "locale", tmp_path / "locale")
    assert [code for code, _ in languages_in(tmp_path / "locale")] == ["en", "ar"]

    french = tmp_path / "locale" / "fr" / "LC_MESSAGES"
    french.mkdir(parents=True)
    (french / "django.po").write_text('msgid ""\nmsgstr ""\n"Language: fr\\n"\n', "utf-8")

    assert dict(languages_in(tmp_path / "locale")) == {
        "en": "English",
        "ar": "العربيّة",
        "fr": "français",
    }


def test_catalogues_compile_without_gettext(tmp_path, settings):
    shutil.copytree(BASE_DIR / "locale", tmp_path / "locale")
    for mo in (tmp_path / "locale").glob("*/LC_MESSAGES/*.mo"):
        mo.unlink()
    settings.LOCALE_PATHS = [tmp_path / "locale"]

    call_command("compile_translations")

    assert (tmp_path / "locale" / "ar" / "LC_MESSAGES" / "django.mo").stat().st_size > 100


def test_a_broken_catalogue_is_refused(tmp_path, settings):
    broken = tmp_path / "locale" / "ar" / "LC_MESSAGES"
    broken.mkdir(parents=True)
    (broken / "django.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: ar\\n"\n\n'
        '#, python-format\nmsgid "%(days)s days"\nmsgstr "%(dayz)s يوم"\n',
        "utf-8",
    )
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="days"):
        call_command("compile_translations")


def test_the_arabic_catalogue_has_no_untranslated_or_fuzzy_entries():
    from babel.messages.pofile import read_po

    with (BASE_DIR / "locale" / "ar" / "LC_MESSAGES" / "django.po").open("rb") as handle:
        catalog = read_po(handle)
    missing = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert missing == []


@pytest.mark.parametrize(("language", "direction"), [("en", "ltr"), ("ar", "rtl")])
def test_switching_language_sets_lang_and_direction(client, db, language, direction):
    login = reverse("web:login")
    response = client.post(
        reverse("set_language"), {"language": language, "next": login}, follow=True
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<html lang="{language}" dir="{direction}">' in body
    # The switcher is on the page, with the current language selected.
    assert 'name="language"' in body
    assert f'value="{language}" lang="{language}" selected' in body
