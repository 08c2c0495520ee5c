"""Pages: sign in (password, then a TOTP or backup code), enrolment of an authenticator app by
QR code, backup codes shown once, sign out, and the account page.

The password goes through ``authenticate(request, ...)`` so django-axes counts failures and
locks out (its middleware answers with ``web/account/locked_out.html``); every step is audited
by ``cases.services.accounts`` (directly or through the auth signals it receives).
"""

from __future__ import annotations

import datetime
from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth import login as auth_login
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from cases.middleware import _SESSION_STARTED
from cases.services import accounts
from cases.services.errors import DomainError
from cases.web.redirects import safe_next

from .common import staff_page, staff_user

# Backup codes waiting to be shown once (after enrolment or regeneration), and where to go on.
_PENDING_CODES = "account_backup_codes"
_PENDING_NEXT = "account_backup_codes_next"

# One answer for an unknown user, a wrong password and a disabled account.
LOGIN_REFUSED = _("The username or password is not correct, or the account is disabled.")


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    """A 6-digit authenticator code, or (on the verify page) a backup code."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "spellcheck": "false",
                "autocapitalize": "off",
                "aria-describedby": "id_code-help",
            }
        ),
    )


class EnrolCodeForm(CodeForm):
    """Only the app's 6-digit code: phones show the number pad."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update({"inputmode": "numeric", "pattern": "[0-9 ]*"})


def _is_verified(request: HttpRequest) -> bool:
    verified = getattr(request.user, "is_verified", None)
    return bool(request.user.is_authenticated and callable(verified) and verified())


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: ``next`` when it stays on this site, else the home page."""
    return safe_next(request, reverse("web:home"))


def _with_next(route: str, next_url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse(route)}?{urlencode({'next': next_url})}")


def _second_step(request: HttpRequest, next_url: str) -> HttpResponseRedirect:
    """After the password: the code of a confirmed device, or enrolment of a first one."""
    user = staff_user(request) if request.user.is_authenticated else None
    if user is not None and accounts.has_confirmed_device(user=user):
        return _with_next("web:otp-verify", next_url)
    return _with_next("web:otp-enrol", next_url)


def _session_start(request: HttpRequest, user: Any) -> None:
    """``login`` with its audit in one transaction; if anything in it fails, the session is
    emptied, so no one is left half signed in."""
    try:
        with transaction.atomic():
            auth_login(request, user)
    except Exception:
        request.session.flush()
        request.user = AnonymousUser()
        raise


def _session_end(request: HttpRequest) -> None:
    """``logout`` (audited); the session is emptied even if the audit fails."""
    try:
        logout(request)
    except Exception:
        request.session.flush()
        request.user = AnonymousUser()
        raise


def _locked_out(request: HttpRequest, username: str) -> HttpResponse:
    """django-axes' lockout answer (the same template and status as at the password step),
    after ending the half-signed-in session so the password has to be given again."""
    from axes.helpers import get_lockout_response

    _session_end(request)
    response: HttpResponse = get_lockout_response(request, None, {"username": username})
    return response


def _second_factor_gate(request: HttpRequest, next_url: str) -> HttpResponse | None:
    """Where a visitor of the verify or enrol page goes instead, if not there."""
    if not request.user.is_authenticated:
        return _with_next("web:login", next_url)
    if _is_verified(request):
        return HttpResponseRedirect(next_url)
    username = request.user.get_username()
    if not accounts.login_allowed(request=request, username=username):
        return _locked_out(request, username)
    return None


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_authenticated:
        if _is_verified(request):
            return HttpResponseRedirect(next_url)
        return _second_step(request, next_url)
    form = LoginForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if user is not None and user.is_active:
            _session_start(request, user)
            return _second_step(request, next_url)
        # django-axes has counted this failure; at the limit its middleware answers instead.
        form.add_error(None, LOGIN_REFUSED)
    context = {"form": form, "next": next_url, "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "web/account/login.html", context)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def verify_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    gate = _second_factor_gate(request, next_url)
    if gate is not None:
        return gate
    user = staff_user(request)
    if not accounts.has_confirmed_device(user=user):
        return _with_next("web:otp-enrol", next_url)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        result = accounts.second_factor_verify(user=user, code=form.cleaned_data["code"])
        if result.device is not None:
            otp_login(request, result.device)
            request.session.cycle_key()
            accounts.login_attempts_reset(request=request, username=user.get_username())
            return HttpResponseRedirect(next_url)
        if accounts.second_factor_failure_count(request=request, username=user.get_username()):
            return _locked_out(request, user.get_username())
        if result.retry_after is not None and result.retry_after > timezone.now():
            wait = int((result.retry_after - timezone.now()).total_seconds()) + 1
            form.add_error(
                "code",
                _("Too many wrong codes. Wait %(seconds)s seconds and try again.")
                % {"seconds": wait},
            )
        else:
            form.add_error("code", _("That code is not valid. Try again."))
    return render(request, "web/account/verify.html", {"form": form, "next": next_url})


def _qr_svg(url: str) -> str:
    """The provisioning QR code as inline SVG, made on the server (no image request, no JS)."""
    svg: str = segno.make(url, error="m").svg_inline(
        scale=5,
        dark="#1d2430",
        light="#ffffff",
        svgclass="qr",
        title=str(_("QR code to scan with your authenticator app")),
    )
    return svg


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def enrol_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    gate = _second_factor_gate(request, next_url)
    if gate is not None:
        return gate
    user = staff_user(request)
    if accounts.has_confirmed_device(user=user):
        return _with_next("web:otp-verify", next_url)
    form = EnrolCodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            enrolment = accounts.totp_enrol_confirm(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if enrolment.device is not None:
                otp_login(request, enrolment.device)
                request.session.cycle_key()
                accounts.login_attempts_reset(request=request, username=user.get_username())
                request.session[_PENDING_CODES] = enrolment.backup_codes
                request.session[_PENDING_NEXT] = next_url
                messages.success(request, _("Your authenticator app is set up."))
                return redirect("web:backup-codes")
            form.add_error(
                "code",
                _("That code is not valid. Check the app shows this account, then try again."),
            )
    device = accounts.totp_enrolment_device(user=user)
    secret = b32encode(device.bin_key).decode("ascii")
    context = {
        "form": form,
        "next": next_url,
        "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 (segno's own SVG)
        "secret": _grouped(secret),
        "issuer": settings.OTP_TOTP_ISSUER,
        "digits": device.digits,
        "period": device.step,
    }
    return render(request, "web/account/enrol.html", context)


@never_cache
@staff_page
def backup_codes_view(request: HttpRequest) -> HttpResponse:
    """POST: new backup codes (the old ones stop working). GET: the new codes, once."""
    if request.method == "POST":
        codes = accounts.backup_codes_regenerate(actor=staff_user(request))
        request.session[_PENDING_CODES] = codes
        request.session[_PENDING_NEXT] = reverse("web:account")
        messages.success(request, _("New backup codes made. The old ones no longer work."))
        return redirect("web:backup-codes")
    codes = request.session.pop(_PENDING_CODES, None)
    next_url = request.session.pop(_PENDING_NEXT, None) or reverse("web:account")
    if not codes:
        return redirect("web:account")
    return render(request, "web/account/backup_codes.html", {"codes": codes, "next": next_url})


@require_POST
@csrf_protect
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        _session_end(request)
        messages.info(request, _("You are signed out."))
    return redirect("web:login")


@never_cache
@staff_page
def account_view(request: HttpRequest) -> HttpResponse:
    user = staff_user(request)
    status = accounts.second_factor_status(user=user)
    started = request.session.get(_SESSION_STARTED)
    ends_at = None
    if isinstance(started, (int, float)):
        ends_at = datetime.datetime.fromtimestamp(
            started + settings.SESSION_ABSOLUTE_LIFETIME_SECONDS, tz=datetime.UTC
        )
    context = {
        "status": status,
        "low_on_codes": status.backup_codes_left <= 3,
        "idle_minutes": settings.SESSION_COOKIE_AGE // 60,
        "session_ends_at": ends_at,
    }
    return render(request, "web/account/account.html", context)


urlpatterns: list[URLPattern] = [
    path("login/", login_view, name="login"),
    path("logout/", logout_view, name="logout"),
    path("verify/", verify_view, name="otp-verify"),
    path("enrol/", enrol_view, name="otp-enrol"),
    path("backup-codes/", backup_codes_view, name="backup-codes"),
    path("", account_view, name="account"),
]
