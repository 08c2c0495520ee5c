"""Celery tasks call the services (run eagerly on the embedded default)."""

from cryptography.fernet import Fernet

from cases.models import AuditEvent, Returnee
from cases.tasks import audit_verify_task, identity_reencrypt_task

from . import factories as f


def test_reencrypt_task_rotates_and_audits(db, settings):
    person = f.ReturneeFactory(given_name="Huda")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    assert identity_reencrypt_task.apply().get() == 1
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Returnee.objects.get(pk=person.pk).given_name == "Huda"
    event = AuditEvent.objects.get(action="identity.reencrypt")
    assert event.actor_label == "system"
    assert event.request_id.startswith("task-")


def test_audit_verify_task_reports_the_chain(db):
    assert audit_verify_task.apply().get() == {
        "checked": 0,
        "first_broken_id": None,
        "problems": [],
        "checkpoint": 0,  # a checkpoint of the empty chain was signed
    }
