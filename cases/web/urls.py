"""Routes of the staff web app, one list per area (``cases/web/views/<area>.py``)."""

from django.urls import include, path

from .views import (
    account,
    casefile,
    caseload,
    common,
    intake,
    notifications,
    records,
    supervisor,
    surveys,
)

app_name = "web"

urlpatterns = [
    path("", common.home, name="home"),
    path("account/", include(account.urlpatterns)),
    path("caseload/", include(caseload.urlpatterns)),
    path("cases/new/", include(intake.urlpatterns)),
    path("cases/", include(records.urlpatterns)),
    path("cases/", include(surveys.urlpatterns)),  # before the case file: its <tab> catches all
    path("cases/", include(casefile.urlpatterns)),
    path("team/", include(supervisor.urlpatterns)),
    path("notifications/", include(notifications.urlpatterns)),
]
