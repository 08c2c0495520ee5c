"""Settings of the Celery worker that the reliability tests start as a subprocess: the
project's own, with the emails written to files the test counts (``EMAIL_FILE_PATH``). Every
Celery knob that the tests shorten (visibility timeout, retries) is set through the environment
the test gives the worker, so the settings' own consistency check applies to it too."""

import os

from reintegration.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
