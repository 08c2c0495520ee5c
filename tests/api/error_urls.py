"""The project's URLs plus views that fail on purpose, for the error-shape tests
(``@pytest.mark.urls("tests.api.error_urls")``). The error handlers are the project's own."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reintegration.urls import *  # noqa: F403 (the project's routes and error handlers)
from reintegration.urls import urlpatterns as project_urlpatterns

SECRET = "secret-detail-in-the-exception-42"


class FailingApiView(APIView):
    """An API view with a bug: what the exception says must never reach the client."""

    authentication_classes = []
    permission_classes = []

    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET)


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET)


urlpatterns = [
    path("api/v1/test-failure/", FailingApiView.as_view()),
    path("api/test-plain-failure/", failing_view),
    path("test-failure/", failing_view),
    *project_urlpatterns,
]
