"""Page clients for the personas: signed in with password and second factor, as a browser
would be after a real login."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def verified_client(user) -> Client:
    """A client for ``user`` past both login steps (a confirmed TOTP device, verified)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def page(world):
    """``page("alice")``: a verified page client for a persona of ``world``."""

    def make(name: str) -> Client:
        return verified_client(getattr(world, name))

    return make
