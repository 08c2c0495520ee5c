"""URL routes. Cases are addressed by their random case number, never by a database id."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

admin.site.site_header = "Reintegration case management"
admin.site.site_title = "Reintegration"

urlpatterns = [
    path("health/", include("cases.health")),
    path("", include("cases.web.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("cases.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[]),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", permission_classes=[]),
        name="redoc",
    ),
]

# What a failed request gets: the API's JSON error shape under /api/, a plain page elsewhere,
# 503 while the database cannot serve (cases/error_handlers.py).
handler400 = "cases.error_handlers.bad_request"
handler403 = "cases.error_handlers.permission_denied"
handler404 = "cases.error_handlers.page_not_found"
handler500 = "cases.error_handlers.server_error"
