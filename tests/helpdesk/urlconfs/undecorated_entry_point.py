from django.urls import include, path

from helpdesk.urls import urlpatterns as project

from . import tenant_name

# An allowed public entry point's name, served by a view that does not
# find its tenant with public_tenant_view.
decoy = [path("<slug:form_tenant>/", tenant_name, name="web_form")]
urlpatterns = [*project, path("form/", include((decoy, "tickets")))]
