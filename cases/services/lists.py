"""Working lists: saving a user's caseload filters under a name, and deleting them.

A list's query string is checked against ``cases.filters.CaseFilterSet`` (the one filterset of
the API and the pages) and stored in a canonical form. The audit trail records that a list was
saved or deleted and which filters it uses, never their values or the list's name (either may
say something about a person)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from cases.filters import CaseFilterSet
from cases.models import AuditAction, Case, WorkingList
from cases.selectors import Actor

from .audit import audit_record
from .common import validated

# Besides the filters, a list remembers whose cases it shows: the user's own or all they see.
SCOPE_PARAM = "scope"
SCOPES = ("mine", "all")
QUERY_MAX_LENGTH = 2000


def working_list_query(query: str | QueryDict) -> str:
    """The canonical form of a caseload query: known filters only, empty values dropped,
    sorted. Raises ``ValidationError`` on ``query`` naming the filter that is wrong."""
    data = query if isinstance(query, QueryDict) else QueryDict(query)
    allowed = set(CaseFilterSet.base_filters) | {SCOPE_PARAM}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            {"query": _("Unknown filter: %(names)s.") % {"names": ", ".join(unknown)}}
        )
    scopes = [value for value in data.getlist(SCOPE_PARAM) if value]
    if any(value not in SCOPES for value in scopes) or len(scopes) > 1:
        raise ValidationError({"query": _("Filter “scope”: choose “mine” or “all”.")})
    filterset = CaseFilterSet(data=data, queryset=Case.objects.none())
    if not filterset.is_valid():
        raise ValidationError(
            {
                "query": [
                    _("Filter “%(name)s”: %(message)s") % {"name": name, "message": message}
                    for name, messages in filterset.errors.items()
                    for message in messages
                ]
            }
        )
    pairs = sorted(
        (name, value.strip()) for name in data for value in data.getlist(name) if value.strip()
    )
    canonical = urlencode(pairs)
    if len(canonical) > QUERY_MAX_LENGTH:
        raise ValidationError({"query": _("These filters are too long to save.")})
    return canonical


@transaction.atomic
def working_list_create(*, actor: Actor, name: str, query: str | QueryDict) -> WorkingList:
    """Save ``query`` as the actor's working list ``name`` (names are unique per user)."""
    name = (name or "").strip()
    working_list = WorkingList(owner=actor, name=name, query=working_list_query(query))
    validated(working_list, exclude=["owner"])
    if WorkingList.objects.filter(owner=actor, name=name).exists():
        raise ValidationError({"name": _("You already have a working list with this name.")})
    try:
        with transaction.atomic():
            working_list.save(force_insert=True)
    except IntegrityError:
        # Another request saved the same name a moment ago.
        raise ValidationError(
            {"name": _("You already have a working list with this name.")}
        ) from None
    audit_record(
        actor=actor,
        action=AuditAction.WORKING_LIST_CREATE,
        object_type="working_list",
        object_id=str(working_list.uuid),
        fields=["name", "query"],
        detail={"filters": sorted(set(QueryDict(working_list.query)))},
    )
    return working_list


@transaction.atomic
def working_list_delete(*, actor: Actor, working_list: WorkingList) -> None:
    """Delete one of the actor's own working lists."""
    locked = WorkingList.objects.select_for_update().filter(pk=working_list.pk).first()
    if locked is None or locked.owner_id != actor.pk:
        raise ValidationError({"working_list": _("No such working list.")})
    audit_record(
        actor=actor,
        action=AuditAction.WORKING_LIST_DELETE,
        object_type="working_list",
        object_id=str(locked.uuid),
        fields=["name", "query"],
    )
    locked.delete()
