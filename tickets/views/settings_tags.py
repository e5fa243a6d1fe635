"""Settings, Tags: rename or merge (admins)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from ..services import tags as tag_services

ADMIN = Membership.Role.ADMIN


@require_GET
@role_required(ADMIN)
def tag_list(request, tenant_slug):
    return render(request, "tickets/settings_tags.html", {"tags": tag_services.tag_counts()})


@require_POST
@role_required(ADMIN)
def tag_rename(request, tenant_slug):
    old, new = request.POST.get("old", ""), request.POST.get("new", "")
    try:
        changed = tag_services.tag_rename(actor=request.user, old=old, new=new)
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        messages.success(request, f"“{old}” is now “{new.strip().lower()}” on {changed} ticket(s).")
    return redirect("tickets:tags", tenant_slug)
