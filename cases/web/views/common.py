"""What every page shares: the login-and-second-factor gate, the case lookup, and turning
domain errors into form errors and messages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse

from cases import selectors
from cases.models import Case
from cases.services.errors import DomainError

View = TypeVar("View", bound=Callable[..., HttpResponse])


def _needs_second_factor(request: HttpRequest) -> bool:
    verified = getattr(request.user, "is_verified", None)
    return not (callable(verified) and verified())


def staff_page(view: View) -> View:
    """Pages for signed-in staff who passed the second factor.

    Anonymous visitors go to the login page (``next`` kept); a signed-in user who has not yet
    given a TOTP or backup code goes to the verification page, or to enrolment when they have
    no confirmed device yet.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or not user.is_active:
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('web:login')}?{query}")
        if _needs_second_factor(request):
            from django_otp import user_has_device

            target = "web:otp-verify" if user_has_device(user) else "web:otp-enrol"
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse(target)}?{query}")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def staff_user(request: HttpRequest) -> User:
    """The signed-in account (only call behind ``staff_page``)."""
    assert isinstance(request.user, User)
    return request.user


def case_for(request: HttpRequest, case_number: str, *, for_update: bool = False) -> Case:
    """The case by number, through the one scoped selector: ``Http404`` when out of scope."""
    return selectors.case_get(user=request.user, case_number=case_number, for_update=for_update)


def add_domain_errors(form: forms.BaseForm, exc: ValidationError | DomainError) -> None:
    """Put what a service refused on the form: field errors on their fields (dotted service
    names like ``intake.date`` are matched on their last part), the rest as non-field errors."""
    if isinstance(exc, DomainError):
        form.add_error(None, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            field = name.rsplit(".", 1)[-1]
            for message in errors:
                if field in form.fields and not form.has_error(field):
                    form.add_error(field, message)
                elif field in form.fields:
                    form.errors[field].append(message)
                else:
                    form.add_error(None, f"{name}: {message}" if name != "__all__" else message)
        return
    for message in exc.messages:
        form.add_error(None, message)


@staff_page
def home(request: HttpRequest) -> HttpResponse:
    """Supervisors and programme managers land on their dashboard, everyone else on their
    caseload (after signing in, so that the landing page is chosen for the right person)."""
    if selectors.supervised_teams(user=request.user).exists():
        return redirect("web:dashboard")
    return redirect("web:caseload")
