from django import forms

from ..forms import TenantChoicesMixin
from ..models import AutomationRule, Ticket
from .engine import DEFAULT_REMINDER


class AutomationRuleForm(TenantChoicesMixin, forms.Form):
    name = forms.CharField(max_length=80)
    kind = forms.ChoiceField(
        label="What it does",
        choices=AutomationRule.Kind.choices,
        help_text="Close resolved tickets after N days. Remind the customer of a pending "
        "ticket after N days, then resolve it M days later. Remind the assignee of a new "
        "or open ticket with no activity for N hours.",
    )
    wait = forms.IntegerField(
        label="After (N)",
        min_value=1,
        help_text="Days for closing and customer reminders; hours for assignee reminders.",
    )
    then_wait = forms.IntegerField(
        label="Then resolve after (M days)",
        min_value=1,
        required=False,
        help_text="Customer reminders only: days after the reminder before the ticket is resolved.",
    )
    message = forms.CharField(
        label="Reminder to the customer",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "dir": "auto"}),
        help_text="Customer reminders only; empty for the standard text. {requester_name}, "
        "{ticket_reference} and {days} (M) are filled in.",
    )
    group = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any group", label="Only in group"
    )
    priority = forms.TypedChoiceField(
        label="Only with priority",
        choices=[("", "Any priority"), *Ticket.Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    category = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="Any category",
        label="Only in category",
        help_text="A top category includes its sub-categories.",
    )
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)
        self.fields["message"].widget.attrs["placeholder"] = DEFAULT_REMINDER
