"""Staff sign-in: the second factor (TOTP enrolment, verification, backup codes), the audit of
every login, failure, lockout and logout, and ending every session of a disabled account.

Password checks, failure counting and lockout are django-axes' (``authenticate`` with the
request); the receivers at the end of this module are connected in ``CasesConfig.ready``.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.middleware import _SESSION_STARTED
from cases.models import AuditAction
from cases.selectors import Actor

from .audit import audit_record
from .errors import DomainError

log = logging.getLogger(__name__)

LOGIN_SUCCESS = AuditAction.LOGIN_SUCCESS
LOGIN_FAILURE = AuditAction.LOGIN_FAILURE
LOGIN_LOCKOUT = AuditAction.LOGIN_LOCKOUT
LOGOUT = AuditAction.LOGIN_LOGOUT
SECOND_FACTOR_SUCCESS = AuditAction.LOGIN_SECOND_FACTOR_SUCCESS
SECOND_FACTOR_FAILURE = AuditAction.LOGIN_SECOND_FACTOR_FAILURE
DEVICE_ENROL = AuditAction.OTP_DEVICE_ENROL
BACKUP_CODES_REGENERATE = AuditAction.OTP_BACKUP_CODES_REGENERATE
SESSIONS_END = AuditAction.USER_SESSIONS_END

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
# A wrong second-factor code reaches django-axes as a failed login from this sender, so it
# counts towards the same lockout as wrong passwords; the login-failure audit skips it
# (the second-factor failure has its own event).
SECOND_FACTOR_SENDER = "cases.second_factor"


# --- reads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondFactorStatus:
    has_totp: bool
    totp_confirmed_at: datetime.datetime | None
    totp_last_used_at: datetime.datetime | None
    backup_codes_left: int


def second_factor_status(*, user: Actor) -> SecondFactorStatus:
    """What the account page shows: the confirmed authenticator app and the backup codes
    left (two queries)."""
    totp = (
        TOTPDevice.objects.filter(user=user, confirmed=True)
        .order_by("-created_at")
        .values("created_at", "last_used_at")
        .first()
    )
    left = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    return SecondFactorStatus(
        has_totp=totp is not None,
        totp_confirmed_at=totp["created_at"] if totp else None,
        totp_last_used_at=totp["last_used_at"] if totp else None,
        backup_codes_left=int(left),
    )


def has_confirmed_device(*, user: Actor) -> bool:
    """A confirmed authenticator app or backup codes: the user verifies rather than enrols."""
    return bool(
        TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or StaticDevice.objects.filter(user=user, confirmed=True).exists()
    )


def _account(username: object) -> Any:
    """The account with this username, or None; never used to tell the caller which."""
    if not isinstance(username, str) or not username:
        return None
    model = get_user_model()
    return model.objects.filter(**{model.USERNAME_FIELD: username}).first()


def _account_fields(username: object) -> tuple[str, dict[str, Any]]:
    """The audited object id and detail of a login attempt: the attempted username only when
    it names a real account (a typed password in the username box is never recorded)."""
    account = _account(username)
    if account is None:
        return "", {"account": "unknown"}
    return str(account.pk), {"username": account.get_username()}


# --- audit of sign-in events (called by the signal receivers below) ----------------------


def login_record(*, request: HttpRequest | None, user: Actor) -> None:
    """A password login: starts the absolute session lifetime and writes ``login.success``."""
    if request is not None and hasattr(request, "session"):
        request.session[_SESSION_STARTED] = time.time()
    with transaction.atomic():
        audit_record(
            actor=user,
            action=LOGIN_SUCCESS,
            object_type="user",
            object_id=str(user.pk),
            detail={"step": "password"},
        )


def login_failure_record(*, username: object) -> None:
    object_id, detail = _account_fields(username)
    with transaction.atomic():
        audit_record(
            actor=AnonymousUser(),
            action=LOGIN_FAILURE,
            object_type="user",
            object_id=object_id,
            detail=detail,
        )


def lockout_record(*, username: object, failures: object = None) -> None:
    object_id, detail = _account_fields(username)
    if isinstance(failures, int):
        detail["failures"] = failures
    with transaction.atomic():
        audit_record(
            actor=AnonymousUser(),
            action=LOGIN_LOCKOUT,
            object_type="user",
            object_id=object_id,
            detail=detail,
        )


def logout_record(*, user: Actor) -> None:
    with transaction.atomic():
        audit_record(actor=user, action=LOGOUT, object_type="user", object_id=str(user.pk))


# --- the second factor -------------------------------------------------------------------


@dataclass(frozen=True)
class SecondFactorResult:
    device: Any  # the django-otp device that accepted the code, or None
    # When the code was not even checked: django-otp throttles the devices until then.
    retry_after: datetime.datetime | None = None


def _normalised(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _throttled_until(devices: list[Any]) -> datetime.datetime | None:
    """When the soonest of these throttled devices accepts a code again (None: not all are
    throttled)."""
    waits = []
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if allowed:
            return None
        waits.append((data or {}).get("locked_until") or timezone.now())
    return min(waits) if waits else None


@transaction.atomic
def second_factor_verify(*, user: Actor, code: str) -> SecondFactorResult:
    """Check a 6-digit authenticator code or a backup code (a backup code is used up) and
    audit the outcome. django-otp throttles each device on its own after wrong codes."""
    token = _normalised(code)
    # Six digits is an authenticator code; a backup code always has a letter (see below).
    model: type[Any] = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
    devices = list(model.objects.filter(user=user, confirmed=True).order_by("pk"))
    # Throttled before this attempt: the code is not even checked, and the user should wait.
    blocked_until = _throttled_until(devices)
    accepted = None
    for device in devices:
        accepted = verify_token(user, device.persistent_id, token)
        if accepted is not None:
            break
    kind = "totp" if model is TOTPDevice else "backup_code"
    if accepted is None:
        audit_record(
            actor=user,
            action=SECOND_FACTOR_FAILURE,
            object_type="user",
            object_id=str(user.pk),
            detail={"method": kind},
        )
        return SecondFactorResult(device=None, retry_after=blocked_until)
    detail: dict[str, Any] = {"method": kind}
    if kind == "backup_code":
        detail["backup_codes_left"] = StaticToken.objects.filter(device=accepted).count()
    audit_record(
        actor=user,
        action=SECOND_FACTOR_SUCCESS,
        object_type="user",
        object_id=str(user.pk),
        detail=detail,
    )
    return SecondFactorResult(device=accepted)


def _pending_totp_device(user: Actor) -> Any:
    """The user's newest unconfirmed authenticator-app device, locked; None when there is none."""
    return (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("-pk")
        .first()
    )


@transaction.atomic
def totp_enrolment_device(*, user: Actor) -> Any:
    """The unconfirmed authenticator-app device whose key the enrolment page shows (made on
    the first visit, the same one after), or DomainError when the user already has one."""
    if has_confirmed_device(user=user):
        raise DomainError("This account already has a second factor.", code="enrolled")
    device = _pending_totp_device(user)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def _backup_codes_replace(*, user: Actor) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes: list[str] = []
    while len(codes) < BACKUP_CODE_COUNT:
        code = str(StaticToken.random_token())
        if code not in codes and not code.isdigit():
            codes.append(code)
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


@dataclass(frozen=True)
class Enrolment:
    device: Any  # the confirmed TOTP device, or None when the code was wrong
    backup_codes: list[str]  # shown once, never again


@transaction.atomic
def totp_enrol_confirm(*, user: Actor, code: str) -> Enrolment:
    """Confirm the pending authenticator app with a code it shows: the device is confirmed,
    ten fresh backup codes replace any old ones, and the enrolment is audited. A wrong code
    confirms nothing and is audited as a second-factor failure."""
    if has_confirmed_device(user=user):
        raise DomainError("This account already has a second factor.", code="enrolled")
    device = _pending_totp_device(user)
    if device is None:
        raise DomainError("Start the enrolment again.", code="no_pending_device")
    token = _normalised(code)
    if not (token.isdigit() and device.verify_token(token)):
        audit_record(
            actor=user,
            action=SECOND_FACTOR_FAILURE,
            object_type="user",
            object_id=str(user.pk),
            detail={"method": "totp", "step": "enrolment"},
        )
        return Enrolment(device=None, backup_codes=[])
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    codes = _backup_codes_replace(user=user)
    audit_record(
        actor=user,
        action=DEVICE_ENROL,
        object_type="user",
        object_id=str(user.pk),
        detail={"device": "totp", "backup_codes": len(codes)},
    )
    audit_record(
        actor=user,
        action=SECOND_FACTOR_SUCCESS,
        object_type="user",
        object_id=str(user.pk),
        detail={"method": "totp", "step": "enrolment"},
    )
    return Enrolment(device=device, backup_codes=codes)


@transaction.atomic
def backup_codes_regenerate(*, actor: Actor) -> list[str]:
    """Ten new backup codes for the actor's own account; every old one stops working."""
    codes = _backup_codes_replace(user=actor)
    audit_record(
        actor=actor,
        action=BACKUP_CODES_REGENERATE,
        object_type="user",
        object_id=str(actor.pk),
        detail={"count": len(codes)},
    )
    return codes


# --- lockout (django-axes) for the second-factor step --------------------------------------


def login_allowed(*, request: HttpRequest, username: str) -> bool:
    """False while django-axes locks this username at this address out."""
    from axes.handlers.proxy import AxesProxyHandler

    return bool(AxesProxyHandler.is_allowed(request, {"username": username}))


def second_factor_failure_count(*, request: HttpRequest, username: str) -> bool:
    """Count a wrong code like a wrong password (django-axes, per username and address).
    True when this failure locked the account out."""
    user_login_failed.send(
        sender=SECOND_FACTOR_SENDER, credentials={"username": username}, request=request
    )
    return bool(getattr(request, "axes_locked_out", False))


def login_attempts_reset(*, request: HttpRequest, username: str) -> None:
    """Both factors passed: forget the failures of this username at this address. (Not on
    the password alone, or each password login would buy new guesses at the code.)"""
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.update_request(request)
    AxesProxyHandler.reset_attempts(ip_address=request.axes_ip_address, username=username)  # type: ignore[attr-defined]


# --- ending the sessions of a disabled account ---------------------------------------------


def user_sessions_end(*, user: Actor) -> int:
    """Delete every stored session of ``user`` (database-backed session engines); audited
    when there were any. Other engines still refuse the account at its next request, since
    Django loads no inactive user from a session."""
    engine = import_module(settings.SESSION_ENGINE)
    store_class: Any = engine.SessionStore
    if not hasattr(store_class, "get_model_class"):
        return 0
    model = store_class.get_model_class()
    ended = 0
    with transaction.atomic():
        live = model.objects.filter(expire_date__gt=timezone.now())
        for session in live.iterator():
            try:
                data = session.get_decoded()
            except Exception:  # an unreadable session belongs to nobody
                log.warning("Skipped an undecodable session while ending sessions.")
                continue
            if str(data.get(SESSION_KEY)) == str(user.pk):
                store_class(session_key=session.session_key).delete()
                ended += 1
        if ended:
            audit_record(
                actor=None,
                action=SESSIONS_END,
                object_type="user",
                object_id=str(user.pk),
                detail={"sessions": ended, "reason": "account disabled"},
            )
    return ended


# --- signal receivers (connected in CasesConfig.ready) -------------------------------------


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Actor, **kwargs: Any) -> None:
    login_record(request=request, user=user)


def on_user_logged_out(
    sender: Any, request: HttpRequest | None, user: Actor | None, **kwargs: Any
) -> None:
    if user is not None and user.is_authenticated:
        logout_record(user=user)


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if sender == SECOND_FACTOR_SENDER:
        return
    login_failure_record(username=credentials.get(get_user_model().USERNAME_FIELD))


def on_user_locked_out(
    sender: Any, request: HttpRequest | None = None, username: object = None, **kwargs: Any
) -> None:
    failures = getattr(request, "axes_failures_since_start", None)
    lockout_record(username=username, failures=failures)


_DISABLING = "_cases_disabling"


def on_user_pre_save(sender: Any, instance: User, **kwargs: Any) -> None:
    """Note an active account being disabled, for ``on_user_post_save``."""
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    was_active = sender.objects.filter(pk=instance.pk, is_active=True).exists()
    setattr(instance, _DISABLING, was_active)


def on_user_post_save(sender: Any, instance: User, **kwargs: Any) -> None:
    if getattr(instance, _DISABLING, False):
        setattr(instance, _DISABLING, False)
        user_sessions_end(user=instance)
