"""Pages: my caseload, with the API's filters, and the user's working lists (saved filters).

The rows come from ``selectors.caseload_list`` (built on ``case_list_with_summary``, the one
scoping rule) and are filtered by ``cases.filters.CaseFilterSet``, the API's own filterset.
With htmx the filter form and the page links swap only the results; without JavaScript they
are ordinary GET links and forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from cases import selectors
from cases.filters import CaseFilterSet
from cases.models import WorkingList
from cases.services import lists as list_services

from .common import add_domain_errors, staff_page, staff_user

PAGE_SIZE = 50
SCOPE = list_services.SCOPE_PARAM

# The filters the page offers; any other filter of the filterset given in the URL (a team, a
# date range from an API-style link or a saved list) still applies and is carried along.
OFFERED_FILTERS = ("stage", "risk_level", "district", "overdue", "case_number")
FILTER_LABELS = {
    "stage": _("Stage"),
    "risk_level": _("Risk level"),
    "district": _("District"),
    "overdue": _("Overdue contacts"),
    "case_number": _("Case number"),
    # Not on the form, but they can come in a link or a saved list: errors name them too.
    "team": _("Team"),
    "caseworker": _("Caseworker"),
    "opened_after": _("Opened after"),
    "opened_before": _("Opened before"),
    "closed_after": _("Closed after"),
    "closed_before": _("Closed before"),
}


class AnyYesNoSelect(forms.NullBooleanSelect):
    """The filterset's yes/no choice with "any" as the empty value."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [("", _("Any")), ("true", _("Yes")), ("false", _("No"))]

    def format_value(self, value: Any) -> Any:
        formatted = super().format_value(value)
        return "" if formatted == "unknown" else formatted


class ScopeForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("Show"),
        choices=[("mine", _("Cases assigned to me")), ("all", _("All cases I can see"))],
        required=False,
        widget=forms.RadioSelect,
    )


class WorkingListForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the working list"),
        max_length=WorkingList._meta.get_field("name").max_length,
    )
    query = forms.CharField(required=False, widget=forms.HiddenInput)


def _filter_params(query: QueryDict) -> QueryDict:
    """The request's caseload parameters: the filterset's filters and the scope, nothing else
    (the page number and unknown parameters are dropped)."""
    known = set(CaseFilterSet.base_filters) | {SCOPE}
    params = QueryDict(mutable=True)
    for name in query:
        if name in known:
            values = [value for value in query.getlist(name) if value != ""]
            if values:
                params.setlist(name, values)
    return params


def _filterset(params: QueryDict, queryset: Any) -> CaseFilterSet:
    filterset = CaseFilterSet(data=params, queryset=queryset)
    fields = filterset.form.fields
    for name, label in FILTER_LABELS.items():
        fields[name].label = label
    for name in ("stage", "risk_level"):
        fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].choices)
    fields["overdue"].widget = AnyYesNoSelect()
    fields["district"].widget = forms.TextInput(attrs={"autocomplete": "off"})
    fields["case_number"].widget = forms.TextInput(
        attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"}
    )
    return filterset


def _caseload_context(
    request: HttpRequest, params: QueryDict, *, list_form: WorkingListForm | None = None
) -> dict[str, Any]:
    user = staff_user(request)
    scope_form = ScopeForm(data={SCOPE: params.get(SCOPE, "")})
    scope_form.is_valid()
    scope = scope_form.cleaned_data.get(SCOPE) or "mine"
    queryset = selectors.caseload_list(user=user, mine=scope == "mine")
    filterset = _filterset(params, queryset)
    valid = filterset.is_valid() and scope_form.is_valid()
    paginator = Paginator(filterset.qs if valid else queryset.none(), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    now = timezone.now()
    rows = list(page.object_list)
    for case in rows:
        case.days_in_stage = max((now - case.stage_entered_at).days, 0)

    current_query = ""
    if valid:
        try:
            current_query = list_services.working_list_query(params)
        except ValidationError:
            current_query = ""
    if list_form is None:
        list_form = WorkingListForm(initial={"query": current_query})
    working_lists = list(selectors.working_list_list(user=user))
    filter_errors = [
        (FILTER_LABELS.get(name) or filterset.form.fields[name].label or name, error_list)
        for name, error_list in filterset.form.errors.items()
    ] + [(ScopeForm.base_fields[SCOPE].label, errors) for errors in scope_form.errors.values()]
    hidden_filters = [
        (name, value)
        for name in params
        if name not in OFFERED_FILTERS and name != SCOPE
        for value in params.getlist(name)
    ]
    return {
        "filterset": filterset,
        "filter_form": filterset.form,
        "scope_form": scope_form,
        "scope": scope,
        "filters_valid": valid,
        "filter_errors": filter_errors,
        "hidden_filters": hidden_filters,
        "page_obj": page,
        "paginator": paginator,
        "rows": rows,
        "query": params.urlencode(),
        "current_query": current_query,
        "list_form": list_form,
        "working_lists": working_lists,
    }


def _wants_partial(request: HttpRequest) -> bool:
    """An htmx request from the filter form or a page link swaps only the results; a history
    restore (back button after a swap) needs the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Boosted") != "true"
    )


@staff_page
@require_safe
def caseload(request: HttpRequest) -> HttpResponse:
    context = _caseload_context(request, _filter_params(request.GET))
    template = "web/caseload/_results.html" if _wants_partial(request) else "web/caseload/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@staff_page
@require_POST
def working_list_create(request: HttpRequest) -> HttpResponse:
    form = WorkingListForm(request.POST)
    if form.is_valid():
        try:
            working_list = list_services.working_list_create(
                actor=staff_user(request),
                name=form.cleaned_data["name"],
                query=form.cleaned_data["query"],
            )
        except ValidationError as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(
                request, _("Saved the working list “%(name)s”.") % {"name": working_list.name}
            )
            return redirect(_list_url(working_list))
    params = _filter_params(QueryDict(request.POST.get("query", "")))
    context = _caseload_context(request, params, list_form=form)
    return render(request, "web/caseload/list.html", context)


@staff_page
@require_safe
def working_list_open(request: HttpRequest, list_uuid: str) -> HttpResponse:
    working_list = selectors.working_list_get(user=request.user, list_uuid=list_uuid)
    return redirect(_list_url(working_list))


@staff_page
@require_POST
def working_list_delete(request: HttpRequest, list_uuid: str) -> HttpResponse:
    working_list = selectors.working_list_get(user=request.user, list_uuid=list_uuid)
    name = working_list.name
    list_services.working_list_delete(actor=staff_user(request), working_list=working_list)
    messages.success(request, _("Deleted the working list “%(name)s”.") % {"name": name})
    return redirect("web:caseload")


def _list_url(working_list: WorkingList) -> str:
    url = reverse("web:caseload")
    return f"{url}?{working_list.query}" if working_list.query else url


urlpatterns: list[URLPattern] = [
    path("", caseload, name="caseload"),
    path("lists/new/", working_list_create, name="working-list-create"),
    path("lists/<uuid:list_uuid>/", working_list_open, name="working-list-open"),
    path("lists/<uuid:list_uuid>/delete/", working_list_delete, name="working-list-delete"),
]
