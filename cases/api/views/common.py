"""What every staff API view shares: the acting account, versions in ETag and If-Match, one
value per query parameter, and no caching of case data."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from cases.selectors import Actor

from ..errors import PreconditionFailed, PreconditionRequired

IF_MATCH = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the version you read, e.g. "3".',
)


def staff(request: Request) -> Actor:
    """The acting staff account; IsStaff has already refused everyone else."""
    user = request.user
    assert isinstance(user, Actor) and user.is_authenticated
    return user


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request, *, required: bool) -> int | None:
    """The version named by If-Match: required for PATCH, optional for actions."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        if required:
            raise PreconditionRequired()
        return None
    value = header[2:] if header.startswith("W/") else header
    try:
        return int(value.strip('"'))
    except ValueError:
        raise PreconditionFailed("If-Match does not name a version of this record.") from None


class OneValueQueryMixin:
    """A query parameter is given once, unless the view's filterset reads it as a list (the
    case list's ``stage`` and ``risk_level``): twice is a 400 naming it, as the OpenAPI
    document has one value for it, rather than the last value winning quietly."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        filterset = getattr(self, "filterset_class", None)
        lists = {
            name
            for name, one in (filterset.base_filters.items() if filterset else ())
            if isinstance(one, django_filters.MultipleChoiceFilter)
        }
        repeated = sorted(
            name
            for name in request.query_params
            if name not in lists and len(request.query_params.getlist(name)) > 1
        )
        if repeated:
            raise DRFValidationError({name: ["Give this parameter once."] for name in repeated})
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class NoStoreMixin:
    """Case data must not sit in a browser's or a proxy's cache."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        assert response is not None
        response["Cache-Control"] = "no-store"
        return response


def with_etag(response: Response, instance: Any) -> Response:
    response["ETag"] = etag(instance.version)
    return response
