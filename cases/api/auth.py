"""Who is calling: staff (session or personal token) or a partner (API key), never both.

A partner key is not accepted on staff endpoints and a staff token not on partner endpoints:
each side's views list only their own authentication class.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from cases.models import AccessKey, AccessKeyKind, PartnerOrganisation
from cases.services.keys import access_key_check
from reintegration.cache import LogEvery, cache_outage

logger = logging.getLogger(__name__)


def _bearer(request: Request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class StaffTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer st_...``: a staff member's personal token."""

    def authenticate(self, request: Request) -> tuple[Any, AccessKey] | None:
        value = _bearer(request)
        if value is None or not value.startswith("st_"):
            return None
        key = access_key_check(value, kind=AccessKeyKind.STAFF)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class PartnerKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer pk_...``: a partner organisation's API key."""

    def authenticate(self, request: Request) -> tuple[Any, AccessKey] | None:
        value = _bearer(request)
        if value is None:
            return None
        key = access_key_check(value, kind=AccessKeyKind.PARTNER)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="partner-api"'


def request_partner(request: Request) -> PartnerOrganisation:
    key = request.auth
    assert isinstance(key, AccessKey) and key.partner is not None
    return key.partner


def _session_without_second_factor(request: Request) -> bool:
    """A browser session that passed the password but not the second factor (django-otp)."""
    if not isinstance(request.successful_authenticator, authentication.SessionAuthentication):
        return False
    verified = getattr(request.user, "is_verified", None)
    return not (callable(verified) and verified())


class IsStaff(permissions.BasePermission):
    """An active staff account, by a session that passed the second factor or by a personal
    token; never a partner key."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(request.auth, AccessKey) and request.auth.kind != AccessKeyKind.STAFF:
            return False
        if not (user and user.is_authenticated and user.is_active):
            return False
        if _session_without_second_factor(request):
            raise exceptions.NotAuthenticated(
                "Sign in with your second factor (authenticator code) before using the API "
                "from a browser session.",
                code="second_factor_required",
            )
        return True


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        return isinstance(key, AccessKey) and key.kind == AccessKeyKind.PARTNER


class SettingsRateMixin:
    """Read the rate from the settings when a request comes, not when the module loads."""

    scope: str

    def get_rate(self) -> str | None:
        from django.conf import settings

        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        rate = rates.get(self.scope) if isinstance(rates, dict) else None
        return str(rate) if rate else None


# A cache that raises (not the project's fail-open one) is said at most once a minute.
_raising_cache_log = LogEvery(60.0)


class FailOpenThrottle(throttling.SimpleRateThrottle):
    """A rate limit that lets the request through when the cache that counts is down: a Redis
    outage costs the API its rate limits, never its answers. Said in the log when an outage
    starts and every minute while it lasts, or at most once a minute for a cache that raises
    (not the project's: ``reintegration/cache.py`` fails open by itself)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            allowed = super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            if _raising_cache_log.due("throttle"):
                logger.warning(
                    "API rate limit not enforced: the cache is unavailable (%s)",
                    type(exc).__name__,
                )
            return True
        outage = cache_outage()
        if outage is not None:
            outage.warn(
                logger,
                "throttle",
                "API rate limits are not enforced while the cache at %s is unavailable",
                outage.where,
            )
            return True
        return allowed


class StaffThrottle(SettingsRateMixin, FailOpenThrottle):
    scope = "staff"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class PartnerThrottle(SettingsRateMixin, FailOpenThrottle):
    """Per key, on the shared cache (Redis when configured), so every web worker counts."""

    scope = "partner"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        ident = key.lookup if isinstance(key, AccessKey) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class StaffTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "cases.api.auth.StaffTokenAuthentication"
    name = "staffToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Staff token: st_…"}


class PartnerKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "cases.api.auth.PartnerKeyAuthentication"
    name = "partnerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Partner API key: pk_…"}
