"""Celery tasks: thin wrappers that take ids, bind a request id for the audit log and call a
service."""

from __future__ import annotations

from celery import shared_task

from cases import context
from cases.services.audit import audit_verify
from cases.services.identity import identity_reencrypt


@shared_task(name="cases.identity_reencrypt")
def identity_reencrypt_task() -> int:
    """Re-encrypt identity fields under the newest key, off the request path."""
    with context.bound(request_id=f"task-{identity_reencrypt_task.request.id or 'eager'}"):
        return identity_reencrypt(actor=None)


@shared_task(name="cases.audit_verify")
def audit_verify_task() -> dict[str, object]:
    """Check the audit chain (scheduled nightly by beat); the result names the first break."""
    report = audit_verify()
    return {"checked": report.checked, "first_broken_id": report.first_broken_id}
