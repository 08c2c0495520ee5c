"""The Celery application. Tasks live in ``cases/tasks.py`` and only call services."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reintegration.settings")

app = Celery("reintegration")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
