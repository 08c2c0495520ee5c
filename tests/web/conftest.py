"""Page clients for the personas: signed in with password and second factor, as a browser
would be after a real login."""

from __future__ import annotations

from typing import TypeVar, overload

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

ClientT = TypeVar("ClientT", bound=Client)


@overload
def verified_client(user) -> Client: ...
@overload
def verified_client(user, client: ClientT) -> ClientT: ...
def verified_client(user, client: Client | None = None) -> Client:
    """``client`` (a new one by default; an APIClient works too) signed in as ``user`` past
    both login steps (a confirmed TOTP device, verified)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = client if client is not None else Client()
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
