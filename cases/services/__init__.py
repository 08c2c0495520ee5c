"""Every write to the domain goes through these services: validation, stage rules, locking and
the audit event, in one transaction. Views, serializers, the admin and Celery tasks call them."""
