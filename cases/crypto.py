"""Encryption of identity fields and the keyed blind index used for exact-match lookup.

Values are sealed with ``cryptography``'s MultiFernet (AES-CBC with an HMAC-SHA256 tag, so a
tampered ciphertext fails to decrypt): the first configured key encrypts, every key decrypts, and
re-saving a value seals it under the first key. The blind index is an HMAC-SHA256 of the
normalised value under a separate key, so equal values can be found without storing them.
Rotation re-encrypts through the model fields (``cases.services.identity.identity_reencrypt``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TOKEN_PREFIX = "enc1:"  # noqa: S105 (a format marker, not a secret)


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be url-safe base64 32-byte keys."
        ) from exc


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return TOKEN_PREFIX + _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("Stored value is not an encrypted token.")
    try:
        return _fernet().decrypt(token[len(TOKEN_PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError("Encrypted value cannot be decrypted with the configured keys.") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def normalise_national_id(value: str) -> str:
    return re.sub(r"[\s\-./]", "", value).upper()


def normalise_phone(value: str) -> str:
    """E.164 when the number parses (in the programme's default region), else its digits."""
    try:
        number = phonenumbers.parse(value, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def blind_index(kind: str, normalised: str) -> str:
    """Keyed hash of a normalised value; ``kind`` keeps equal values of two fields apart."""
    if not normalised:
        return ""
    key = settings.BLIND_INDEX_KEY.encode("utf-8")
    message = f"{kind}:{normalised}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def national_id_index(value: str) -> str:
    return blind_index("national_id", normalise_national_id(value or ""))


def phone_index(value: str) -> str:
    return blind_index("phone", normalise_phone(value) if value else "")


def name_token_key() -> bytes:
    """The key of the name tokens (``cases.names.name_tokens``): derived from BLIND_INDEX_KEY
    under its own purpose, so a name token never equals, or can be tested against, an index."""
    return bytes.fromhex(blind_index("key:name-tokens:v1", "derive"))
