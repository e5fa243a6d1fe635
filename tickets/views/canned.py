"""Settings: the canned responses admins keep ready for agents."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from .. import services
from ..forms import (
    CannedResponseForm,
    add_service_errors,
)
from ..models import CannedResponse


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def canned_response_list(request, tenant_slug, canned_id=None):
    """Admins keep the tenant's canned responses: list, add, change."""
    canned = None
    if canned_id is not None:
        canned = CannedResponse.objects.filter(pk=canned_id).first()
        if canned is None:
            raise Http404("No such canned response.")
    form = CannedResponseForm(
        request.POST or None,
        initial={"title": canned.title, "body": canned.body} if canned else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.canned_response_save(
                actor=request.user, canned=canned, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Saved “{saved.title}”.")
            return redirect("tickets:canned_list", tenant_slug)
    return render(
        request,
        "tickets/canned_responses.html",
        {
            "form": form,
            "editing": canned,
            "responses": CannedResponse.objects.all(),
            "placeholders": services.CANNED_PLACEHOLDERS,
        },
    )


@require_POST
@role_required(Membership.Role.ADMIN)
def canned_response_delete(request, tenant_slug, canned_id):
    canned = CannedResponse.objects.filter(pk=canned_id).first()
    if canned is None:
        raise Http404("No such canned response.")
    services.canned_response_delete(actor=request.user, canned=canned)
    messages.success(request, f"Removed “{canned.title}”.")
    return redirect("tickets:canned_list", tenant_slug)
