"""compose.yaml, the production shape, read as data (no Docker engine needed): the services and
how they start, that web, worker and beat are the one image running the commands the README
documents, one beat only, and a prod.env.example that production settings accept as it is."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / "prod.env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def readme_commands() -> dict[str, list[str]]:
    """The process commands in the README's code block, by role."""
    found = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("gunicorn reintegration.wsgi"):
            found["web"] = shlex.split(command)
        elif command.startswith("celery -A reintegration worker"):
            found["worker"] = shlex.split(command)
        elif command.startswith("celery -A reintegration beat"):
            found["beat"] = shlex.split(command)
        elif command.startswith("python manage.py migrate"):
            found["migrate"] = shlex.split(command)
    return found


def test_the_production_shape_has_its_six_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "beat"}


def test_postgres_16_keeps_its_data_in_a_volume_and_reports_ready():
    postgres = SERVICES["postgres"]
    assert postgres["image"].split(":")[1].split(".")[0] == "16"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    assert mounts["/var/lib/postgresql/data"] in COMPOSE["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # The database container gets its own password and nothing of the app's secrets.
    assert "env_file" not in postgres
    assert "POSTGRES_PASSWORD" in postgres["environment"]["POSTGRES_PASSWORD"]


def test_redis_7_keeps_nothing_on_disk_and_never_evicts_the_queues():
    redis = SERVICES["redis"]
    assert redis["image"].split(":")[1].split(".")[0] == "7"
    command = redis["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert command[command.index("--maxmemory-policy") + 1].startswith("volatile-")
    assert "volumes" not in redis
    assert redis["healthcheck"]["test"][-1] == "ping"


def test_web_worker_beat_and_migrate_are_the_one_image_reading_prod_env():
    images = {(SERVICES[name]["image"], SERVICES[name]["build"]) for name in APP}
    assert images == {("reintegration:latest", ".")}
    for name in APP:
        assert SERVICES[name]["env_file"] == ["prod.env"], name


def test_each_process_runs_the_command_the_readme_documents():
    documented = readme_commands()
    assert set(documented) == set(APP)
    for name in APP:
        assert SERVICES[name]["command"] == documented[name], name


def test_the_web_command_is_also_the_images_default():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    assert yaml.safe_load(cmd.group(1)) == SERVICES["web"]["command"]


def test_exactly_one_beat():
    beat = SERVICES["beat"]
    assert beat["deploy"]["replicas"] == 1
    # A fixed name makes `--scale beat=2` an error rather than a second scheduler.
    assert beat["container_name"]
    for name in ("web", "worker"):
        assert "container_name" not in SERVICES[name]  # these scale out


def test_services_start_in_order_once_their_dependencies_are_ready():
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_restart_policies():
    for name in LONG_RUNNING:
        assert SERVICES[name]["restart"] == "unless-stopped", name
    assert SERVICES["migrate"]["restart"] == "no"  # a one-shot: run, succeed, stay down


def test_every_long_running_service_has_a_healthcheck_and_web_asks_health():
    for name in LONG_RUNNING:
        assert SERVICES[name]["healthcheck"]["test"], name
    web_check = SERVICES["web"]["healthcheck"]["test"]
    assert web_check[:3] == ["CMD", "python", "-c"]
    assert "/health/" in web_check[3]
    assert ":8000/" in web_check[3]
    compile(web_check[3], "web healthcheck", "exec")
    beat_check = SERVICES["beat"]["healthcheck"]["test"]
    compile(beat_check[-1], "beat healthcheck", "exec")
    assert "beat_last_run_age" in beat_check[-1]


def test_web_is_published_on_loopback_only():
    for mapping in SERVICES["web"]["ports"]:
        assert mapping.startswith("127.0.0.1:"), mapping
    for name in set(SERVICES) - {"web"}:
        assert "ports" not in SERVICES[name], name


def test_the_example_points_the_app_at_the_compose_services():
    example = env_example()
    assert example["DJANGO_ENV"] == "production"
    assert "@postgres:5432/" in example["DATABASE_URL"]
    assert example["REDIS_URL"].startswith("redis://redis:6379/")
    password = example["POSTGRES_PASSWORD"]
    assert f":{password}@postgres:" in example["DATABASE_URL"]


# --- production settings accept prod.env.example as it is ----------------------------------------

# Imports the settings in a clean process, with the repository's own .env switched off so only
# the environment given counts; exit 3 and the message when the settings refuse to start.
LOAD_SETTINGS = """
import sys
import environ
environ.Env.read_env = staticmethod(lambda *args, **kwargs: None)
from django.core.exceptions import ImproperlyConfigured
try:
    import reintegration.settings as s
except ImproperlyConfigured as exc:
    print(exc)
    sys.exit(3)
print("PRODUCTION" if s.PRODUCTION else "DEVELOPMENT")
"""


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", LOAD_SETTINGS],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def required_in_production() -> set[str]:
    """Every variable production settings refuse to start without, found by starting them with
    nothing but DJANGO_ENV and adding what each refusal names, until they start."""
    example = env_example()
    env = {"DJANGO_ENV": "production"}
    required: set[str] = set()
    for _attempt in range(20):
        result = _load_settings(env)
        if result.returncode == 0:
            return required
        assert result.returncode == 3, result.stderr
        named = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", result.stdout))
        named -= {"DJANGO_ENV", *env}
        assert named, f"a refusal that names no variable: {result.stdout}"
        required |= named
        for name in named:
            env[name] = example.get(name, f"placeholder-for-{name.lower()}")
    pytest.fail("production settings kept refusing to start")


def test_every_variable_production_requires_is_in_the_example():
    required = required_in_production()
    assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "ALLOWED_HOSTS"} <= required
    missing = required - set(env_example())
    assert not missing, f"add to prod.env.example: {sorted(missing)}"


def test_production_settings_start_from_the_example_alone():
    result = _load_settings(env_example())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("PRODUCTION")


def test_postgres_is_tuned_for_ssd_storage_as_the_benchmark_measures_it():
    command = [str(part) for part in SERVICES["postgres"]["command"]]
    assert command[0] == "postgres"
    assert "random_page_cost=1.1" in command
    bench = (ROOT / "bench" / "benchmark.py").read_text()
    assert "postgres_settings()" in bench  # the benchmark applies compose.yaml's settings
