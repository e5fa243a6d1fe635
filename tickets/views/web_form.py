"""The public web form: anyone may open a ticket with a tenant, no login.

These URLs are outside the tenant pages (the middleware would ask for a
login there): public_tenant_view finds the tenant named in the URL and runs
the view in its context. The pages may be framed by other sites: they are
made to be embedded.
"""

from csp.decorators import csp_replace
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_http_methods

from helpdesk.models import Tenant
from helpdesk.proxies import client_ip
from helpdesk.tenancy import public_tenant_view

from .. import services
from ..forms import WebRequestForm, add_service_errors

SENT_SALT = "tickets.web_form.sent"
# A confirmation link works for a day; the number is in the email too.
SENT_MAX_AGE = 24 * 3600
RATE_LIMITED = (
    "You have sent several requests in the last hour. Please wait a while before "
    "sending another; we will answer the ones we have by email."
)
ALREADY_SENT = (
    "This form was already sent; we have that request. If this is another one, "
    "check it below and send it again."
)


def _client_ip(request) -> str:
    # Behind a proxy REMOTE_ADDR is the proxy for everyone: the client's
    # address comes from the hops TRUSTED_PROXY_HOPS trusts, never from what
    # the client itself sent.
    return client_ip(request)


def _sent_salt(tenant: Tenant) -> str:
    # Salted per tenant: a token made for one tenant does not verify at another.
    return f"{SENT_SALT}:{tenant.slug}"


def _sent_redirect(tenant: Tenant, number: int | None):
    # Signed, not encrypted: the holder can read the number (it is theirs) but
    # cannot change it to see whether another ticket exists.
    token = signing.dumps({"number": number}, salt=_sent_salt(tenant))
    return redirect("tickets:web_form_sent", tenant.slug, token)


# Other sites may embed these two pages (README, "Web form"): no
# X-Frame-Options, and a CSP that lets any site frame them.
EMBEDDABLE = {"frame-ancestors": ["*"]}


@xframe_options_exempt
@csp_replace(EMBEDDABLE)
@require_http_methods(["GET", "POST"])
@public_tenant_view("form_tenant")
def web_form(request, form_tenant):
    """Show the tenant's public request form, or open a ticket from it."""
    tenant = request.tenant
    status = 200
    form = WebRequestForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_bot:
            # Answer as if it worked, so the bot learns nothing; write nothing.
            return _sent_redirect(tenant, None)
        if not form.is_valid():
            status = 400
        else:
            data = form.cleaned_data
            try:
                ticket = services.web_form_ticket_create(
                    token=form.token,
                    client_ip=_client_ip(request),
                    requester_email=data["requester_email"],
                    requester_name=data["requester_name"],
                    subject=data["subject"],
                    body=data["body"],
                    category=data["category"],
                    attachments=data["attachments"],
                )
            except services.WebFormAlreadySent as sent:
                if sent.same:
                    # The same post again (a double click, a retry): its confirmation.
                    return _sent_redirect(tenant, sent.ticket.number if sent.ticket else None)
                # Other text under a used token: shown again with a fresh one.
                form.renew_token()
                form.add_error(None, ALREADY_SENT)
                status = 409
            except services.WebFormRateLimited:
                form.add_error(None, RATE_LIMITED)
                status = 429
            except ValidationError as error:
                add_service_errors(form, error)
                status = 400
            else:
                return _sent_redirect(tenant, ticket.number)
    return render(
        request, "tickets/public_form.html", {"tenant": tenant, "form": form}, status=status
    )


@xframe_options_exempt
@csp_replace(EMBEDDABLE)
@require_GET
@public_tenant_view("form_tenant")
def web_form_sent(request, form_tenant, token):
    """Confirm a submission, with the ticket reference carried in the signed token."""
    tenant = request.tenant
    try:
        sent = signing.loads(token, salt=_sent_salt(tenant), max_age=SENT_MAX_AGE)
    except signing.BadSignature:
        raise Http404("This confirmation link is not valid any more.") from None
    number = sent.get("number") if isinstance(sent, dict) else None
    reference = f"{tenant.ticket_prefix}-{number}" if number else None
    return render(request, "tickets/public_sent.html", {"tenant": tenant, "reference": reference})
