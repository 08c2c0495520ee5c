"""API clients for the personas, and a partner with a key."""

import pytest
from rest_framework.test import APIClient

from cases.services.keys import partner_key_issue, staff_token_issue

from .. import factories as f
from ..web.conftest import verified_client


@pytest.fixture
def api(world):
    """``api("alice")`` → an APIClient signed in (session, password and second factor) as
    that persona; ``api()`` anonymous."""

    def make(persona: str | None = None) -> APIClient:
        client = APIClient()
        if persona:
            verified_client(getattr(world, persona), client)
        return client

    return make


@pytest.fixture
def partners(world):
    """Partner X and partner Y of programme North, each with a live API key."""
    from django.db import transaction

    out = {}
    for name in ("x", "y"):
        partner = f.PartnerFactory(programme=world.north, name=f"Partner {name.upper()}")
        with transaction.atomic():
            issued = partner_key_issue(actor=None, partner=partner, name="integration")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        out[name] = (partner, client, issued.plaintext)
    return out


@pytest.fixture
def staff_token(world):
    from django.db import transaction

    with transaction.atomic():
        return staff_token_issue(actor=world.alice, name="script").plaintext
