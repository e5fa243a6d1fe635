from django import forms

from tickets.forms import TenantChoicesMixin
from tickets.models import Ticket

# The same period keys as the dashboard's, so a number's link to the tickets
# behind it (reports:tickets) reads the same period.
PERIODS = {
    "7": ("Last 7 days", 7),
    "30": ("Last 30 days", 30),
    "90": ("Last 90 days", 90),
}
DEFAULT_PERIOD = "30"
FILTER_NAMES = ("period", "group", "assignee", "channel", "category")


class PageFilterForm(TenantChoicesMixin, forms.Form):
    """What a manager narrows a report page to, read from the query string.
    `only` keeps the fields that make sense on the page."""

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

    def __init__(self, *args, tenant, choices=None, only=FILTER_NAMES, **kwargs):
        super().__init__(*args, **kwargs)
        for name in set(self.fields) - set(only):
            del self.fields[name]
        self.fill_tenant_choices(tenant, choices)
