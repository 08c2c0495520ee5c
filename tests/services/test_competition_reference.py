"""Programme managers maintain benchmarks, threat contexts and profiles; nothing is edited in
place, and every change is audited."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from cases.competition import reference_data
from cases.models import AuditEvent, Benchmark, TargetProfile, ThreatContext
from cases.services.competition import (
    benchmark_create,
    benchmark_revise,
    target_profile_create,
    target_profile_deactivate,
    threat_context_create,
    threat_context_end,
)
from cases.services.errors import ActionNotAllowed

DAY = datetime.date(2026, 6, 1)


def _benchmark(world, **extra):
    return benchmark_create(
        actor=world.mona,
        programme=world.north,
        data={
            "competing_stage": "sharia_institute",
            "days_in_stage": 40,
            "source": "Programme review",
            "valid_from": DAY,
            **extra,
        },
    )


def test_revising_a_benchmark_keeps_the_old_version_for_its_dates(world):
    first = _benchmark(world)
    later = DAY + datetime.timedelta(days=30)
    second = benchmark_revise(
        actor=world.mona, benchmark=first, data={"valid_from": later, "days_in_stage": 20}
    )
    first.refresh_from_db()
    assert first.valid_to == later
    assert first.days_in_stage == 40
    assert (second.valid_from, second.days_in_stage, second.source) == (
        later,
        20,
        "Programme review",
    )
    on_first = reference_data([world.north.pk], on=later - datetime.timedelta(days=1))
    on_second = reference_data([world.north.pk], on=later)
    assert on_first[world.north.pk].benchmarks["sharia_institute"] == first
    assert on_second[world.north.pk].benchmarks["sharia_institute"] == second
    actions = list(
        AuditEvent.objects.filter(object_type="benchmark").values_list("action", flat=True)
    )
    assert actions == ["benchmark.create", "benchmark.close", "benchmark.create"]


def test_only_the_programmes_manager_adds_and_nobody_edits_the_defaults(world):
    with pytest.raises(ValidationError) as error:
        benchmark_create(
            actor=world.carol,
            programme=world.north,
            data={"competing_stage": "repentance", "source": "x", "valid_from": DAY},
        )
    assert "programme" in error.value.message_dict
    with pytest.raises(ValidationError):
        _benchmark_south = benchmark_create(
            actor=world.mona,
            programme=world.south,
            data={"competing_stage": "repentance", "source": "x", "valid_from": DAY},
        )
    default = Benchmark.objects.get(programme=None, competing_stage="repentance")
    with pytest.raises(ActionNotAllowed, match="defaults"):
        benchmark_revise(actor=world.mona, benchmark=default, data={"valid_from": DAY})
    with pytest.raises(ActionNotAllowed):
        benchmark_revise(actor=world.carol, benchmark=_benchmark(world), data={"valid_from": DAY})


def test_a_revision_must_start_after_the_current_version(world):
    first = _benchmark(world)
    with pytest.raises(ValidationError) as error:
        benchmark_revise(actor=world.mona, benchmark=first, data={"valid_from": DAY})
    assert "valid_from" in error.value.message_dict


def test_threat_context_is_created_then_ended_not_edited(world):
    threat = threat_context_create(
        actor=world.mona,
        programme=world.north,
        data={
            "districts": ["Sinjar"],
            "kind": "amnesty_window",
            "starts_on": DAY,
            "source": "Announcement monitored on 1 June",
        },
    )
    with pytest.raises(ValidationError) as error:
        threat_context_end(actor=world.mona, threat=threat, ends_on=DAY - datetime.timedelta(1))
    assert "ends_on" in error.value.message_dict
    threat_context_end(actor=world.mona, threat=threat, ends_on=DAY + datetime.timedelta(14))
    assert ThreatContext.objects.get(pk=threat.pk).ends_on == DAY + datetime.timedelta(14)
    with pytest.raises(ValidationError) as error:
        threat_context_create(
            actor=world.mona,
            programme=world.north,
            data={"districts": [], "kind": "anchor_point", "starts_on": DAY, "source": "x"},
        )
    assert "districts" in error.value.message_dict


def test_profile_lists_are_checked_and_profiles_are_deactivated(world):
    with pytest.raises(ValidationError) as error:
        target_profile_create(
            actor=world.mona,
            programme=world.north,
            data={"name": "Pilots", "professions": ["aviation"], "source": "x"},
        )
    assert "professions" in error.value.message_dict
    profile = target_profile_create(
        actor=world.mona,
        programme=world.north,
        data={"name": "Doctors", "professions": ["medicine"], "source": "Review"},
    )
    target_profile_deactivate(actor=world.mona, profile=profile)
    assert not TargetProfile.objects.get(pk=profile.pk).is_active
    assert AuditEvent.objects.filter(action="target_profile.deactivate").count() == 1
