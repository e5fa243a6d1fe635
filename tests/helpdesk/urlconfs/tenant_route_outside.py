from django.urls import path

from helpdesk.urls import urlpatterns as project

from . import tenant_name

# A tenant page added next to the tenant pages, not inside them.
urlpatterns = [*project, path("<slug:tenant>/reports/", tenant_name, name="reports")]
