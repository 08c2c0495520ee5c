"""The admin site itself: behind the second factor, with the web app's one login."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from cases.web.redirects import safe_next


class SecondFactorAdminSite(OTPAdminSite):
    """The admin needs the second factor too (django-otp: an unverified session counts as not
    staff), and has no login form of its own: there is one login, the web app's."""

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        verified = getattr(request.user, "is_verified", None)
        if request.user.is_authenticated and callable(verified) and verified():
            # Fully signed in but not admin staff: another login would only loop back here.
            raise PermissionDenied
        next_url = safe_next(
            request, reverse("admin:index", current_app=self.name), sources=("GET",)
        )
        return HttpResponseRedirect(f"{reverse('web:login')}?{urlencode({'next': next_url})}")


# The default site keeps its name and registry; only its class changes (django-otp's way).
admin.site.__class__ = SecondFactorAdminSite
