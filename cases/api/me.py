"""``GET /api/v1/me/``: who the caller is, as the API sees them. A client checks its token with
it; the benchmark uses it as the cheapest authenticated request the server can answer (the
ceiling the other endpoints are measured against)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .views import NoStoreMixin, OneValueQueryMixin, staff


class MeSerializer(serializers.Serializer[dict[str, str]]):
    username = serializers.CharField(help_text="The account the credentials belong to.")


class MeView(OneValueQueryMixin, NoStoreMixin, APIView):
    """The caller's username; no query beyond authentication."""

    @extend_schema(responses={200: MeSerializer})
    def get(self, request: Request) -> Response:
        return Response(MeSerializer({"username": staff(request).get_username()}).data)
