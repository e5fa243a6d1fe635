from django import forms

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


class PageFilterForm(forms.Form):
    """What a manager narrows a report page to, read from the query string.
    The groups, agents and categories offered and accepted are the page's
    tenant choices (read once per request), so checking a filter reads
    nothing more. `only` keeps the fields that make sense on the page."""

    period = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in PERIODS.items()], required=False
    )
    group = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    assignee = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Agent")
    channel = forms.ChoiceField(
        choices=[("", "Any channel"), *Ticket.Channel.choices], required=False
    )
    category = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)

    def __init__(self, *args, choices, only=FILTER_NAMES, **kwargs):
        super().__init__(*args, **kwargs)
        for name in set(self.fields) - set(only):
            del self.fields[name]
        for name, listed, anything in (
            ("group", choices.groups, "Any group"),
            ("assignee", choices.agents, "Any agent"),
            ("category", choices.categories, "Any category"),
        ):
            if name in self.fields:
                self.fields[name].choices = [("", anything), *listed]
