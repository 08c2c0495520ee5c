"""What a JSON request body may hold, stated once for the server and the OpenAPI document alike:
each field's JSON type, text without control characters, lengths counted on the text as sent,
and the canonical forms of uuids, dates and date-times.

DRF is lenient where a document cannot be: it turns ``5`` into ``"5"``, ``"yes"`` into ``true``,
``"5"`` into ``5``, trims text before it counts its length, and reads a uuid without hyphens.
A generated client that trusts the document would never send those, and a request the document
calls invalid must be refused. ``input_errors`` refuses exactly what ``field_pattern`` and the
field's other constraints (``maxLength``, ``format``) document; ``StrictMixin`` applies it to
every field of every input serializer before DRF converts the values.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator, RegexValidator, URLValidator
from rest_framework import fields as drf
from rest_framework import relations, serializers

from cases import validators

# C0 controls but tab, line feed and carriage return; DEL; C1 controls: the characters
# ``cases.validators`` refuses in any text. (Lone surrogates too, but JSON Schema cannot name
# them and no generated client sends one.)
CONTROL = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"
# What ``str.strip()`` (so DRF's trimming) removes, less the control characters above.
SPACE = "\\t\\n\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"

# Text with something in it besides spaces: what DRF and the services do not call blank.
NON_BLANK = f"[^{CONTROL}{SPACE}]"
# Free text in a query string: Django's form fields refuse only NUL there.
QUERY_TEXT = "^[^\\u0000]*$"

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)

# Free text a model does not limit (and any text that is not a model field): the length
# ``cases.validators`` allows.
DEFAULT_MAX_LENGTH = validators.LONG_TEXT_MAX_LENGTH


def text_pattern(*, min_length: int = 0) -> str:
    """Text without control characters whose trimmed form has at least ``min_length``
    characters: DRF trims before it checks that a field is not blank or long enough.

    For text that may be blank (``min_length`` 0) the pattern leaves out the empty string:
    spectacular documents such a field as ``oneOf`` this pattern or ``maxLength: 0``, and the
    empty string must match only one of the two."""
    if min_length <= 0:
        return f"^[^{CONTROL}]+$"
    first = f"[^{CONTROL}{SPACE}]"
    if min_length == 1:
        return f"^[{SPACE}]*{first}[^{CONTROL}]*$"
    return f"^[{SPACE}]*{first}[^{CONTROL}]{{{min_length - 2},}}{first}[{SPACE}]*$"


def webhook_url_pattern() -> str:
    """A webhook URL as the service takes it (cases.services.outbox): https; where private
    addresses are allowed (development only), http too, and localhost or an IPv4 address."""
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return url_pattern("https?", local=True)
    return url_pattern("https")


def url_pattern(scheme: str = "(?:https?|ftps?)", *, local: bool = False) -> str:
    """A URL that Django's URL validator passes, written as RFC 3986 (the OpenAPI ``uri``
    format) has it: the scheme; a host name of up to six labels of up to 40 characters, the
    last one (the top-level domain) of 2 to 24 letters, so never longer than Django's 253; a
    port up to 65535; then path, query and fragment in plain ASCII (no %-escapes). Django
    takes more (IP addresses, localhost, user names, any text after the host); the API does
    not, so the document says exactly what it takes, in a form a generator can follow fast."""
    label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?"
    host = f"(?:{label}\\.){{1,5}}[A-Za-z]{{2,24}}"
    if local:
        host = f"(?:{host}|localhost|{URLValidator.ipv4_re})"
    port = "(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    char = "-A-Za-z0-9._~!$&'()*+,;=:@"  # the dash first: a literal, not a range
    rest = f"(?:/[{char}/]*)?(?:\\?[{char}/?]*)?(?:#[{char}/?]*)?"
    return f"^{scheme}://{host}(?::{port})?{rest}$"


def decimal_pattern(field: serializers.DecimalField) -> str:
    """A decimal as a string (as the document shows decimals), within the field's digits."""
    places = field.decimal_places or 0
    whole = (field.max_digits or 20) - places
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    if places:
        return f"^{sign}(?:[0-9]{{1,{whole}}}(?:\\.[0-9]{{1,{places}}})?|\\.[0-9]{{1,{places}}})$"
    return f"^{sign}[0-9]{{1,{whole}}}$"


def is_text(field: drf.Field) -> bool:
    """A field the document shows as free text (not a choice, a uuid, a date or a number)."""
    return isinstance(field, drf.CharField) and not isinstance(
        field, (drf.UUIDField, drf.EmailField, drf.URLField, drf.RegexField)
    )


def _is_uuid_reference(field: drf.Field) -> bool:
    return isinstance(field, relations.SlugRelatedField) and field.slug_field == "uuid"


def field_pattern(field: drf.Field) -> str | None:
    """The ``pattern`` the document gives a writable string field, if it needs one."""
    if isinstance(field, serializers.DecimalField):
        return decimal_pattern(field)
    if is_text(field):
        assert isinstance(field, drf.CharField)
        # DRF refuses blank text (after trimming) unless the field allows it, default or not.
        minimum = max(field.min_length or 0, 0 if field.allow_blank else 1)
        return text_pattern(min_length=minimum)
    if isinstance(field, relations.SlugRelatedField) and not _is_uuid_reference(field):
        return text_pattern(min_length=1)
    return None


def harden(field: drf.Field) -> None:
    """Give free text a length limit (its model's, else ``DEFAULT_MAX_LENGTH``) and a URL the
    form the document states, so the document states them and the server keeps to them."""
    if isinstance(field, (drf.ListField, drf.DictField)):
        harden(field.child)
    elif isinstance(field, drf.URLField) and not field.read_only:
        # Spaces around a URL are not trimmed but refused, as the ``uri`` format does.
        field.trim_whitespace = False
        if not any(type(v) is RegexValidator for v in field.validators):
            field.validators.append(RegexValidator(url_pattern()))
    elif is_text(field) and not field.read_only:
        assert isinstance(field, drf.CharField)
        if field.max_length is None:
            field.max_length = DEFAULT_MAX_LENGTH
            field.validators.append(MaxLengthValidator(DEFAULT_MAX_LENGTH))


# Messages, or messages per list index or object key.
Errors = list[str] | dict[Any, Any]


def _text_errors(field: drf.Field | None, value: str) -> list[str]:
    # The shared rules' own words (cases/validators.py), so every way in says the same.
    return validators.text_errors(value, max_length=getattr(field, "max_length", None))


# Complexity exception: one flat branch per field type the OpenAPI document describes, each a
# line or two; a table of functions would scatter what the document promises.
def input_errors(field: drf.Field, value: Any) -> Errors:  # noqa: C901
    """Why ``value``, as parsed from JSON, is not what the document lets ``field`` hold (per
    item or key for a list or an object); DRF checks the rest (choices, ranges, blank,
    existence) after it converts the value."""
    if value is None:
        return []  # DRF says whether the field may be null
    if isinstance(field, serializers.BaseSerializer):
        return []  # a nested serializer checks its own fields
    if isinstance(field, drf.BooleanField):
        return [] if isinstance(value, bool) else ["Must be true or false."]
    if isinstance(field, drf.IntegerField):
        if isinstance(value, int) and not isinstance(value, bool):
            return []
        return ["A valid integer is required."]
    if isinstance(field, drf.FloatField):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return []
        return ["A valid number is required."]
    if isinstance(field, drf.MultipleChoiceField):
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return []
        return ["Expected a list of strings."]
    if isinstance(field, drf.ListField):
        if not isinstance(value, list):
            return [f'Expected a list of items but got type "{type(value).__name__}".']
        # Per item, as DRF reports them (``field[0]`` in the error shape).
        return {
            index: errors
            for index, item in enumerate(value)
            if (errors := input_errors(field.child, item))
        }
    if isinstance(field, drf.DictField):
        if not isinstance(value, dict):
            return [f'Expected a dictionary of items but got type "{type(value).__name__}".']
        # Per key, as DRF reports them (``field.key``).
        return {
            key: errors
            for key, item in value.items()
            if (errors := _text_errors(None, key) or input_errors(field.child, item))
        }
    if isinstance(field, (drf.JSONField, drf.HiddenField)) or type(field) is drf.Field:
        return []
    # Everything else arrives as a string: text, choices, uuids, dates, decimals, references.
    if not isinstance(value, str):
        return ["Not a valid string."]
    if isinstance(field, serializers.DecimalField):
        ok = re.match(decimal_pattern(field), value)
        return [] if ok else ["A valid number is required, as a string."]
    if isinstance(field, drf.UUIDField) or _is_uuid_reference(field):
        return [] if UUID.match(value) else ["Must be a valid UUID."]
    if isinstance(field, drf.DateTimeField):
        ok = DATE_TIME.match(value)
        return [] if ok else ["Give a date and time as YYYY-MM-DDThh:mm:ss with Z or an offset."]
    if isinstance(field, drf.DateField):
        return [] if DATE.match(value) else ["Give a date as YYYY-MM-DD."]
    if isinstance(field, relations.RelatedField) and value == "":
        return ["This field may not be blank."]  # DRF would read it as null
    return _text_errors(field, value)
