"""Settings, Email set-up: one page a non-technical admin can follow."""

from django import forms
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from helpdesk.mail import tenant_sender, tenant_test_mail_send
from helpdesk.models import Membership
from helpdesk.permissions import role_required

from ..models import Mailbox


class TestMailForm(forms.Form):
    to = forms.EmailField(label="Send a test mail to", max_length=254)


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def email_setup(request, tenant_slug):
    """Where customers write, how their mail reaches us, who our mail comes
    from, and a test mail that shows what happened."""
    tenant = request.tenant
    form = TestMailForm(request.POST or None, initial={"to": request.user.email})
    result = None
    if request.method == "POST" and form.is_valid():
        ok, text = tenant_test_mail_send(tenant=tenant, to=form.cleaned_data["to"])
        result = {"ok": ok, "text": text}
    return render(
        request,
        "tickets/settings_email.html",
        {
            "form": form,
            "result": result,
            "sender": tenant_sender(tenant),
            "mailboxes": list(Mailbox.objects.order_by("address")),
        },
    )
