"""Mail intake over HTTP, and the admins' view of what could not be read."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from helpdesk.models import Membership, Tenant
from helpdesk.permissions import role_required
from helpdesk.tenancy import tenant_context

from . import intake
from .models import InboundEmail, Mailbox


@csrf_exempt
@require_POST
def inbound_webhook(request, inbound_tenant, mailbox_id):
    """Accept one raw RFC 822 message; answer 2xx only once it is committed.

    The token comes in the X-Helpdesk-Token header. Unknown tenant, mailbox
    or token all answer 404, so the endpoint reveals nothing. (Not under the
    /<tenant_slug>/ prefix: mail servers do not log in.)
    """
    tenant = Tenant.objects.filter(slug=inbound_tenant).first()
    if tenant is None:
        raise Http404
    raw = request.body
    with tenant_context(tenant):
        mailbox = Mailbox.objects.filter(public_id=mailbox_id, is_active=True).first()
        token = request.headers.get("X-Helpdesk-Token", "")
        if mailbox is None or not intake.mailbox_token_matches(mailbox, token):
            raise Http404
        if not raw:
            return HttpResponse("empty message\n", status=400, content_type="text/plain")
        inbound, created = intake.inbound_store(mailbox=mailbox, raw=raw)
    # The tenant context committed when it closed: the bytes are safe now.
    status = 202 if created else 200
    text = "stored\n" if created else "already stored\n"
    return HttpResponse(text, status=status, content_type="text/plain")


@require_GET
@role_required(Membership.Role.ADMIN)
def quarantine_list(request, tenant_slug):
    return render(
        request,
        "tickets/quarantine.html",
        {"quarantined": intake.inbound_quarantined().defer("raw")[:200]},
    )


@require_POST
@role_required(Membership.Role.ADMIN)
def quarantine_reprocess(request, tenant_slug, inbound_id):
    inbound = intake.inbound_quarantined().filter(pk=inbound_id).first()
    if inbound is None:
        raise Http404("No such quarantined message.")
    inbound = intake.inbound_process(inbound=inbound)
    if inbound.status == InboundEmail.Status.PROCESSED:
        messages.success(request, f"Processed: {inbound.ticket.reference}.")
    else:
        messages.error(request, f"Still quarantined: {inbound.reason}")
    return redirect("tickets:quarantine", tenant_slug)
