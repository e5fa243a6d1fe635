"""Mail intake over HTTP, and the admins' view of what could not be read."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from helpdesk.models import Membership
from helpdesk.parsing import parse_id
from helpdesk.permissions import role_required
from helpdesk.services import audit_entries_for
from helpdesk.tenancy import public_tenant_view

from .. import intake, selectors, services
from ..forms import MailboxForm, add_service_errors
from ..models import InboundEmail, Mailbox
from ..services import quarantine as quarantine_actions


class _TooLarge(Exception):
    pass


def _read_mail(request) -> bytes:
    """The raw message, read as a stream up to the hard cap.

    Not `request.body`: it refuses anything past DATA_UPLOAD_MAX_MEMORY_SIZE
    (2 MB) with a 400, which tells a relay to give up on an ordinary mail
    with a photo. Mail past INBOUND_EMAIL_MAX_BYTES is still stored (and
    quarantined by the worker); only past the hard cap is it refused.
    """
    cap = settings.INBOUND_EMAIL_HARD_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isascii() and declared.isdigit() and len(declared) < 20 and int(declared) > cap:
        raise _TooLarge
    chunks, size = [], 0
    while chunk := request.read(1024 * 1024):
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@csrf_exempt
@require_POST
@public_tenant_view("inbound_tenant")
def inbound_webhook(request, inbound_tenant, mailbox_id):
    """Accept one raw RFC 822 message; answer 2xx only once it is committed.

    The token comes in the X-Helpdesk-Token header. Unknown tenant, mailbox
    or token all answer 404, so the endpoint reveals nothing. (A public
    entry point, outside the tenant pages: mail servers do not log in.)
    """
    mailbox = Mailbox.objects.filter(public_id=mailbox_id, is_active=True).first()
    token = request.headers.get("X-Helpdesk-Token", "")
    if mailbox is None or not services.mailbox_token_matches(mailbox, token):
        raise Http404
    try:
        raw = _read_mail(request)
    except _TooLarge:
        limit = filesizeformat(settings.INBOUND_EMAIL_HARD_MAX_BYTES)
        text = f"message too large: this help desk accepts mail up to {limit}\n"
        return HttpResponse(text, status=413, content_type="text/plain")
    if not raw:
        return HttpResponse("empty message\n", status=400, content_type="text/plain")
    inbound, created = intake.inbound_store(mailbox=mailbox, raw=raw)
    # The answer goes out after public_tenant_view's context has committed
    # (a failed commit answers 5xx): a 2xx means the bytes are safe.
    status = 202 if created else 200
    text = "stored\n" if created else "already stored\n"
    return HttpResponse(text, status=status, content_type="text/plain")


@require_GET
@role_required(Membership.Role.ADMIN)
def quarantine_list(request, tenant_slug):
    """Admins see what could not be filed: who sent it, why it was refused,
    and what was last done about it."""
    before = request.GET.get("before", "")
    before_id = parse_id(before)
    rows, next_cursor = selectors.quarantine_page(before=before_id)
    context = {"quarantined": rows, "next_cursor": next_cursor, "paged": before_id is not None}
    return render(request, "tickets/quarantine.html", context)


@require_GET
@role_required(Membership.Role.ADMIN)
def quarantine_detail(request, tenant_slug, inbound_id):
    """One quarantined mail: its headers, reason and history, and the raw
    mail as text (the template escapes it: the mail is hostile input)."""
    inbound = selectors.quarantined_mail_get(inbound_id=inbound_id)
    head = inbound.raw_head
    context = {
        "inbound": inbound,
        "raw_text": selectors.raw_mail_text(head, cut=len(head) < inbound.size),
        "raw_cut": len(head) < inbound.size,
        "raw_shown_bytes": len(head),
        "history": audit_entries_for(target_type=selectors.INBOUND_TARGET, target_id=inbound.pk),
        "in_quarantine": inbound.status == InboundEmail.Status.QUARANTINED,
    }
    return render(request, "tickets/quarantine_detail.html", context)


@require_GET
@role_required(Membership.Role.ADMIN)
def quarantine_download(request, tenant_slug, inbound_id):
    """The raw mail as a file, never as a page: a mail is hostile input, and
    a browser that sniffed it as HTML would run its scripts on our origin."""
    inbound = selectors.quarantined_mail_get(inbound_id=inbound_id)
    try:
        raw = quarantine_actions.quarantine_raw_download(inbound=inbound, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("tickets:quarantine", tenant_slug)
    response = HttpResponse(raw, content_type="application/octet-stream")
    # The name is ours (no part of the mail in it), so it needs no quoting.
    filename = f"{request.tenant.slug}-mail-{inbound.pk}.eml"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    add_never_cache_headers(response)
    return response


def _after_action(request, tenant_slug, inbound_id, result: InboundEmail | None):
    """Say what became of the mail and go back where the admin was."""
    if result is not None and result.status == InboundEmail.Status.PROCESSED:
        ticket = result.ticket
        url = reverse("tickets:detail", args=[tenant_slug, ticket.number])
        messages.success(
            request, format_html('Filed as <a href="{}">{}</a>.', url, ticket.reference)
        )
    elif result is not None:
        messages.error(request, f"Still quarantined: {result.reason}")
    if request.POST.get("return_to") == "list":
        return redirect("tickets:quarantine", tenant_slug)
    return redirect("tickets:quarantine_detail", tenant_slug, inbound_id)


def _quarantine_action(request, tenant_slug, inbound_id, action):
    inbound = selectors.quarantined_mail_get(inbound_id=inbound_id)
    try:
        result = action(inbound=inbound, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        result = None
    return _after_action(request, tenant_slug, inbound_id, result)


@require_POST
@role_required(Membership.Role.ADMIN)
def quarantine_reprocess(request, tenant_slug, inbound_id):
    """Process again, by the usual rules, after the cause was fixed."""
    return _quarantine_action(
        request, tenant_slug, inbound_id, quarantine_actions.quarantine_reprocess
    )


@require_POST
@role_required(Membership.Role.ADMIN)
def quarantine_file_anyway(request, tenant_slug, inbound_id):
    """File a mail the rules refuse (size, loop, bounce), unacknowledged."""
    return _quarantine_action(
        request, tenant_slug, inbound_id, quarantine_actions.quarantine_file_anyway
    )


# ---------------------------------------------------------------- mailboxes


def _webhook_url(request, mailbox: Mailbox) -> str:
    path = reverse("tickets:inbound_webhook", args=[request.tenant.slug, mailbox.public_id])
    return request.build_absolute_uri(path)


def _with_new_token(
    request, template: str, context: dict, mailbox, token, status=200
) -> HttpResponse:
    # A new token is shown in this response only (never through a redirect,
    # a flash message or a cache).
    if token:
        context |= {"new_token": token, "new_token_mailbox": mailbox}
        context["new_token_url"] = _webhook_url(request, mailbox)
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)
    return response


@role_required(Membership.Role.ADMIN)
def mailbox_list(request, tenant_slug):
    """Admins list the tenant's mailboxes and add one."""
    form = MailboxForm(request.POST or None)
    created = token = None
    if request.method == "POST" and form.is_valid():
        try:
            created, token = services.mailbox_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            form = MailboxForm()
    context = {"form": form, "mailboxes": Mailbox.objects.order_by("address")}
    status = 400 if form.errors else 200
    return _with_new_token(request, "tickets/mailboxes.html", context, created, token, status)


@role_required(Membership.Role.ADMIN)
def mailbox_edit(request, tenant_slug, mailbox_id):
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None:
        raise Http404("No such mailbox.")
    initial = {field: getattr(mailbox, field) for field in services.MAILBOX_FIELDS}
    form = MailboxForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.mailbox_update(mailbox=mailbox, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Saved {mailbox.name}.")
            return redirect("tickets:mailboxes", tenant_slug)
    context = {"form": form, "mailbox": mailbox, "webhook_url": _webhook_url(request, mailbox)}
    status = 400 if form.errors else 200
    return render(request, "tickets/mailbox_edit.html", context, status=status)


@require_POST
@role_required(Membership.Role.ADMIN)
def mailbox_new_token(request, tenant_slug, mailbox_id):
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None:
        raise Http404("No such mailbox.")
    token = services.mailbox_new_token(mailbox=mailbox, actor=request.user)
    context = {"form": MailboxForm(), "mailboxes": Mailbox.objects.order_by("address")}
    return _with_new_token(request, "tickets/mailboxes.html", context, mailbox, token)
