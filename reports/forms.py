from django import forms

from tickets.forms import TenantChoicesMixin
from tickets.models import Organization, Ticket

PERIODS = {"today": ("Today", 0), "7": ("Last 7 days", 7), "30": ("Last 30 days", 30)}
PERIODS["90"] = ("Last 90 days", 90)


class ReportFilterForm(TenantChoicesMixin, forms.Form):
    """What a manager narrows the dashboard to, read from the query string."""

    period = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in PERIODS.items()], required=False
    )
    group = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any group")
    assignee = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any agent", label="Agent"
    )
    channel = forms.ChoiceField(
        choices=[("", "Any channel"), *Ticket.Channel.choices], required=False
    )
    category = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any category")
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Ticket.Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )

    organization = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any organisation", label="Organisation"
    )

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)
        self.fields["organization"].queryset = Organization.objects.order_by("name")
