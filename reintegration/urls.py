"""URL routes. Cases are addressed by their random case number, never by a database id."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Reintegration case management"
admin.site.site_title = "Reintegration"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]
