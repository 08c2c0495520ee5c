"""Print the current authenticator code of a user's device, for development and demos (the
demo users' key is published in ``seed_demo``). Refused in production."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Print the current TOTP code of a user's authenticator device (never in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("totp_code is for development and demos, never production.")
        model = get_user_model()
        user = model.objects.filter(**{model.USERNAME_FIELD: options["username"]}).first()
        device = (
            TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
            if user is not None
            else None
        )
        if device is None:
            raise CommandError(f"{options['username']!r} has no confirmed authenticator device.")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time()
        code = str(totp.token()).zfill(device.digits)
        left = device.step - int(totp.time - device.t0) % device.step
        # The code alone on stdout, so scripts can read it; the advice on stderr.
        self.stdout.write(code)
        if totp.t() <= device.last_t:
            self.stderr.write(f"This code was used already; the next one comes in {left} s.")
        else:
            self.stderr.write(f"Valid for about {left} more seconds.")
