"""The portal's settings page, among the tenant's settings (admins only)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from .forms import PortalSettingsForm
from .selectors import portal_settings
from .services import portal_settings_update


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def portal_settings_edit(request, tenant_slug):
    """Language, reopening and ratings of the tenant's customer portal."""
    form = PortalSettingsForm(request.POST or None, instance=portal_settings())
    if request.method == "POST" and form.is_valid():
        portal_settings_update(actor=request.user, **form.cleaned_data)
        messages.success(request, "Saved the customer portal settings.")
        return redirect("tickets:portal_settings", tenant_slug)
    return render(request, "portal/settings.html", {"form": form})
