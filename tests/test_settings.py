"""Settings from the environment: production refuses to start without its secrets and passes
Django's deployment checks with no warning."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-real-secret-0f3c9e1d7b5a4c2e8f6d0b9a7c5e3f1d2b4a6c8e0f9d7b5a",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "BLIND_INDEX_KEY": "a-real-blind-index-key-6b1f0e2d",
    "AUDIT_CHAIN_KEYS": "a-real-audit-chain-key-5d2c8e1f9a7b3c6d0e4f",
    "AUDIT_CHECKPOINT_PATH": "/var/lib/reintegration/audit/checkpoints.jsonl",
    "ALLOWED_HOSTS": "cases.example.org",
    "EMAIL_URL": "smtp+tls://mailer.example.org:587",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    clean.pop("DATABASE_URL", None)
    # The browser tests set this for their own process; a deployment never has it.
    clean.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("missing", sorted(set(PRODUCTION_ENV) - {"DJANGO_ENV"}))
def test_production_refuses_to_start_without_a_required_setting(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_the_development_keys():
    env = {
        **PRODUCTION_ENV,
        "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UhISE=",
    }
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "development keys" in result.stderr


def test_production_passes_check_deploy_with_no_warning():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_default_needs_no_configuration():
    result = _manage("check", env={})
    assert result.returncode == 0, result.stderr
