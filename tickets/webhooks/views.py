"""Settings: the tenant's outgoing webhooks (admins)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from ..forms import add_service_errors
from ..models import Webhook
from . import selectors, sender, services
from .forms import DeliveryLogForm, WebhookForm


def _webhook(webhook_id) -> Webhook:
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    if webhook is None:
        raise Http404("No such webhook.")
    return webhook


def _private(response):
    # A secret is shown in this response only: never cached, never redirected with.
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def webhook_list(request, tenant_slug):
    """Admins list the tenant's webhooks and add one (its secret shown once here)."""
    form = WebhookForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.webhook_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            form = WebhookForm()
    context = {
        "form": form,
        "webhooks": selectors.webhooks_with_last_attempt(),
        "created": created,
        "secret": secret,
        "signature_header": sender.SIGNATURE_HEADER,
    }
    status = 400 if form.errors else 200
    return _private(render(request, "tickets/webhooks.html", context, status=status))


def _edit_page(request, webhook, *, form=None, status=200, **extra):
    if form is None:
        form = WebhookForm(initial={f: getattr(webhook, f) for f in services.WEBHOOK_FIELDS})
    paging = DeliveryLogForm(request.GET)
    before = paging.cleaned_data["before"] if paging.is_valid() else None
    attempts, next_before = selectors.delivery_log(webhook=webhook, before=before)
    context = {
        "webhook": webhook,
        "form": form,
        "attempts": attempts,
        "next_before": next_before,
        "paged": before is not None,
        "signature_header": sender.SIGNATURE_HEADER,
        **extra,
    }
    return _private(render(request, "tickets/webhook_edit.html", context, status=status))


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def webhook_edit(request, tenant_slug, webhook_id):
    """One webhook: change it, look at its secret, test it, read its delivery log."""
    webhook = _webhook(webhook_id)
    if request.method != "POST":
        return _edit_page(request, webhook)
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            services.webhook_update(webhook=webhook, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Saved {form.cleaned_data['name']}.")
            return redirect("tickets:webhook_edit", tenant_slug, webhook.pk)
    return _edit_page(request, webhook, form=form, status=400)


@require_POST
@role_required(Membership.Role.ADMIN)
def webhook_secret(request, tenant_slug, webhook_id):
    """Show the secret (recorded in the audit log), or make a new one."""
    webhook = _webhook(webhook_id)
    if request.POST.get("action") == "new":
        secret = services.webhook_new_secret(webhook=webhook, actor=request.user)
        return _edit_page(request, webhook, secret=secret, secret_is_new=True)
    secret = services.webhook_secret_shown(webhook=webhook, actor=request.user)
    return _edit_page(request, webhook, secret=secret)


@require_POST
@role_required(Membership.Role.ADMIN)
def webhook_test(request, tenant_slug, webhook_id):
    """Post a test to the webhook now and show what came back."""
    webhook = _webhook(webhook_id)
    attempt = services.webhook_send_test(webhook=webhook, actor=request.user)
    return _edit_page(request, webhook, test_attempt=attempt)


@require_POST
@role_required(Membership.Role.ADMIN)
def webhook_delete(request, tenant_slug, webhook_id):
    webhook = _webhook(webhook_id)
    name = webhook.name
    services.webhook_delete(webhook=webhook, actor=request.user)
    messages.success(request, f"Removed the webhook {name}.")
    return redirect("tickets:webhooks", tenant_slug)
