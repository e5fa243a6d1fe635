from django.urls import path

from helpdesk.urls import urlpatterns as project

from . import tenant_name

urlpatterns = [*project, path("reports/<slug:tenant>/", tenant_name, name="reports")]
