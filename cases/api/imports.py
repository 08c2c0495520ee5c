"""``POST /api/v1/cases/import/``: many returnees, each with a case at intake, from one CSV file,
all or nothing (``cases.services.imports``). The file comes as a multipart ``file`` with a
``team`` field, or as a ``text/csv`` body with ``?team=``."""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.services.imports import (
    COLUMNS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    REQUIRED_COLUMNS,
    ImportInvalid,
    ImportTooLarge,
    import_team,
    max_bytes,
    returnees_import,
)

from .errors import error_response
from .schema import ErrorBodySerializer, ErrorSerializer
from .views import CaseViewSet, NoStoreMixin, OneValueQueryMixin, staff

# Room for the multipart envelope around a file of the largest size accepted.
MULTIPART_SLACK = 64 * 1024


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The file is too large."


def _too_large() -> PayloadTooLarge:
    limit = max_bytes() // (1024 * 1024)
    return PayloadTooLarge(f"The file is larger than {limit} MB; split it.")


class CSVParser(BaseParser):
    """A ``text/csv`` body, as ``{"csv": bytes}``, read no further than the size limit."""

    media_type = "text/csv"

    def parse(
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> dict[str, bytes]:
        data: bytes = stream.read(max_bytes() + 1) if stream is not None else b""
        if len(data) > max_bytes():
            raise _too_large()
        return {"csv": data}


class ImportUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="The CSV file (UTF-8, comma-separated, a header row).")
    team = serializers.UUIDField(help_text="The team that will work the cases.")


class ImportQuerySerializer(serializers.Serializer[Any]):
    team = serializers.UUIDField(required=False)


class ImportResultSerializer(serializers.Serializer[Any]):
    rows = serializers.IntegerField(help_text="Rows in the file.")
    created = serializers.IntegerField(help_text="Cases opened: one per row.")
    case_numbers = serializers.ListField(
        child=serializers.CharField(), help_text="The new cases, in the order of the file's rows."
    )


ImportErrorBodySerializer = inline_serializer(
    name="ImportErrorBody",
    fields={
        "error": inline_serializer(
            name="ImportError",
            fields={
                # The project's error body (code, message, fields), plus every row's errors.
                **{
                    name: copy.deepcopy(ErrorBodySerializer.fields[name])
                    for name in ("code", "message", "fields")
                },
                "errors": serializers.ListField(
                    child=inline_serializer(
                        name="ImportRowError",
                        fields={
                            "row": serializers.IntegerField(
                                help_text="1 is the header, 2 the first person; 0 the file."
                            ),
                            "field": serializers.CharField(help_text="The column."),
                            "message": serializers.CharField(),
                        },
                    ),
                    required=False,
                ),
                "total": serializers.IntegerField(
                    required=False, help_text="Errors found (more than listed if very many)."
                ),
            },
        )
    },
)


DESCRIPTION = (
    "Open a case at intake for every person in a CSV file (UTF-8, comma-separated, a header "
    "row), sent as the multipart field `file` beside `team`, or as a raw `text/csv` body with "
    "`?team=<uuid>`; or for none: every row is checked as a single new case is, and one wrong row "
    "refuses the file with every error by row and column. Staff only; the team must be one "
    "where the caller may open cases (else 404). "
    f"Required columns: {', '.join(REQUIRED_COLUMNS)}. "
    f"Optional: {', '.join(name for name in COLUMNS if name not in REQUIRED_COLUMNS)}. "
    "Dates YYYY-MM-DD; lists (urgent_needs, consent_scope) separated by ';'; "
    "detention_history yes/no; caseworker is a username. Rows are numbered as in a "
    "spreadsheet (header = 1). National IDs already registered or repeated are refused. "
    f"Limits: {DEFAULT_MAX_ROWS} rows, {DEFAULT_MAX_BYTES // (1024 * 1024)} MB (413 beyond)."
)


def _invalid(exc: ImportInvalid) -> Response:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        fields.setdefault(f"rows[{error.row}].{error.field}", []).append(error.message)
    response = error_response(400, "invalid", exc.message, fields)
    response.data["error"]["errors"] = [
        {"row": error.row, "field": error.field, "message": error.message} for error in exc.errors
    ]
    response.data["error"]["total"] = exc.total
    return response


class CaseImportView(OneValueQueryMixin, NoStoreMixin, APIView):
    """Open a case for every person in a CSV file, or for none if any row is wrong."""

    authentication_classes = CaseViewSet.authentication_classes
    permission_classes = CaseViewSet.permission_classes
    parser_classes = [MultiPartParser, CSVParser]

    @extend_schema(
        operation_id="cases_import",
        description=DESCRIPTION,
        # One documented body per operation, so generated clients stay simple (they send the
        # multipart form); a raw text/csv body with ?team= is accepted too (the description).
        request={"multipart/form-data": ImportUploadSerializer},
        parameters=[
            OpenApiParameter(
                "team",
                OpenApiTypes.UUID,
                description="The team, when the file is sent as a text/csv body.",
            ),
        ],
        responses={
            201: ImportResultSerializer,
            400: OpenApiResponse(
                ImportErrorBodySerializer, description="Every error, by row and column."
            ),
            413: OpenApiResponse(ErrorSerializer, description="Too many rows or bytes."),
            415: OpenApiResponse(ErrorSerializer, description="Neither multipart nor text/csv."),
        },
    )
    def post(self, request: Request) -> Response:
        declared = str(request.META.get("CONTENT_LENGTH") or "0")
        if declared.isdigit() and int(declared) > max_bytes() + MULTIPART_SLACK:
            raise _too_large()
        query = ImportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if request.content_type.startswith("multipart/"):
            upload = ImportUploadSerializer(data=request.data)
            upload.is_valid(raise_exception=True)
            file = upload.validated_data["file"]
            if file.size > max_bytes():
                raise _too_large()
            data = file.read()
            team_uuid = upload.validated_data["team"]
        else:
            body = request.data
            data = body.get("csv", b"") if isinstance(body, dict) else b""
            team_uuid = query.validated_data.get("team")
            if team_uuid is None:
                raise exceptions.ValidationError({"team": ["This field is required."]})
        actor = staff(request)
        team = import_team(actor=actor, team_uuid=team_uuid)
        if team is None:
            raise exceptions.NotFound()
        try:
            result = returnees_import(actor=actor, team=team, data=data)
        except ImportInvalid as exc:
            return _invalid(exc)
        except ImportTooLarge as exc:
            return error_response(413, exc.code, exc.message)
        return Response(ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)
