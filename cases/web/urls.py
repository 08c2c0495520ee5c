"""Routes of the staff web app, one list per area (``cases/web/views/<area>.py``)."""

from django.urls import include, path

from .views import account, casefile, caseload, common, intake, records, supervisor

app_name = "web"

urlpatterns = [
    path("", common.home, name="home"),
    path("account/", include(account.urlpatterns)),
    path("caseload/", include(caseload.urlpatterns)),
    path("cases/new/", include(intake.urlpatterns)),
    path("cases/", include(records.urlpatterns)),
    path("cases/", include(casefile.urlpatterns)),
    path("team/", include(supervisor.urlpatterns)),
]
