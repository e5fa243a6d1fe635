"""Settings: the tenant's automations (admins)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from ..forms import add_service_errors
from ..models import AutomationRule
from ..views.common import tenant_choices
from . import services
from .forms import AutomationRuleForm


def _rule(rule_id) -> AutomationRule:
    rule = AutomationRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such automation.")
    return rule


def _form(request, data=None, initial=None) -> AutomationRuleForm:
    return AutomationRuleForm(
        data, initial=initial, tenant=request.tenant, choices=tenant_choices(request)
    )


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def automation_list(request, tenant_slug):
    """Admins list the tenant's automations and add one."""
    form = _form(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.automation_rule_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Added the automation “{rule.name}”.")
            return redirect("tickets:automations", tenant_slug)
    rules = AutomationRule.objects.select_related("group", "category__parent").order_by(
        "kind", "name", "id"
    )
    context = {"form": form, "rules": rules}
    return render(request, "tickets/automations.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def automation_edit(request, tenant_slug, rule_id):
    rule = _rule(rule_id)
    initial = {name: getattr(rule, name) for name in services.RULE_FIELDS}
    form = _form(request, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.automation_rule_update(rule=rule, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Saved the automation “{form.cleaned_data['name']}”.")
            return redirect("tickets:automations", tenant_slug)
    context = {"form": form, "rule": rule}
    return render(
        request, "tickets/automation_edit.html", context, status=400 if form.errors else 200
    )


@require_POST
@role_required(Membership.Role.ADMIN)
def automation_delete(request, tenant_slug, rule_id):
    rule = _rule(rule_id)
    name = rule.name
    services.automation_rule_delete(rule=rule, actor=request.user)
    messages.success(request, f"Removed the automation “{name}”.")
    return redirect("tickets:automations", tenant_slug)
