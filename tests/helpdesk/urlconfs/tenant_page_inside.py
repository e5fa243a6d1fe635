from django.urls import path

from helpdesk.tenancy import tenant_pages
from helpdesk.urls import urlpatterns as project

from . import tenant_name

# A tenant page whose own argument is not called tenant_slug: it is guarded
# because it is inside tenant_pages(), not because of a name.
urlpatterns = [
    *project,
    tenant_pages([path("reports/<slug:tenant>/", tenant_name, name="reports")]),
]
