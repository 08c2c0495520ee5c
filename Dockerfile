# One image for every process of the system. The default command serves the web app:
#
#   docker build -t reintegration .
#   docker run --env-file prod.env -p 8000:8000 reintegration
#
# The same image runs the Celery worker and beat; pass the command instead:
#
#   docker run --env-file prod.env reintegration celery -A reintegration worker -l info
#   docker run --env-file prod.env reintegration celery -A reintegration beat -l info
#
# and the migrations, once per release before the new processes start:
#
#   docker run --env-file prod.env reintegration python manage.py migrate --noinput
#
# prod.env holds the configuration described in README.md (DJANGO_ENV=production, SECRET_KEY,
# FIELD_ENCRYPTION_KEYS, BLIND_INDEX_KEY, AUDIT_CHAIN_KEYS, ALLOWED_HOSTS, DATABASE_URL, ...). The
# image holds no secrets and no database: the code is read-only for the user it runs as.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Runtime dependencies only (no test or lint tools); a layer of its own so code changes
# do not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files and translation catalogues are prepared at build time. Production settings refuse to load without real
# secrets, so this one command gets throw-away values (a fresh Fernet key included) that exist
# only for this RUN line and are not kept in the image.
RUN DJANGO_ENV=production \
    SECRET_KEY="collectstatic-build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    FIELD_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    BLIND_INDEX_KEY="collectstatic-build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    AUDIT_CHAIN_KEYS="collectstatic-build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    AUDIT_CHECKPOINT_PATH=/nonexistent/collectstatic-build-only \
    ALLOWED_HOSTS=localhost EMAIL_URL=consolemail:// \
    sh -c 'python manage.py compile_translations && python manage.py collectstatic --noinput'

# The mount point of the audit checkpoint volume (compose.yaml): a new volume takes this
# directory's owner, so the app user can append to AUDIT_CHECKPOINT_PATH there.
RUN mkdir -p /var/lib/reintegration/audit && chown app:app /var/lib/reintegration/audit

USER app

EXPOSE 8000

CMD ["gunicorn", "reintegration.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
