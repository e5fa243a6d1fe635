from django import forms

from tickets.models import Organization, Ticket

PERIODS = {"today": ("Today", 0), "7": ("Last 7 days", 7), "30": ("Last 30 days", 30)}
PERIODS["90"] = ("Last 90 days", 90)

# The filters naming a row of the tenant, by id: (field, label, "any" label).
ROW_FILTERS = (
    ("group", "Group", "Any group"),
    ("assignee", "Agent", "Any agent"),
    ("category", "Category", "Any category"),
    ("organization", "Organisation", "Any organisation"),
)


def _id_choice(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        choices=[], coerce=int, empty_value=None, required=False, label=label
    )


class ReportFilterForm(forms.Form):
    """What a manager narrows the dashboard to, read from the query string.

    Groups, agents, categories and organisations are offered from lists read
    once (`tenant_choices` and one query for organisations) and checked
    against them, so no filter costs a query of its own. Without `choices`
    (an htmx refresh, which draws no form) any id is taken as it is: the
    facts are the tenant's alone, so an id of nothing there finds nothing."""

    period = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in PERIODS.items()], required=False
    )
    group = _id_choice("Group")
    assignee = _id_choice("Agent")
    channel = forms.ChoiceField(
        choices=[("", "Any channel"), *Ticket.Channel.choices], required=False
    )
    category = _id_choice("Category")
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Ticket.Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    organization = _id_choice("Organisation")

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        if choices is None:
            for name, label, _ in ROW_FILTERS:
                self.fields[name] = forms.IntegerField(required=False, min_value=1, label=label)
            return
        listed = {
            "group": choices.groups,
            "assignee": choices.agents,
            "category": choices.categories,
            "organization": list(Organization.objects.order_by("name").values_list("pk", "name")),
        }
        for name, _, anything in ROW_FILTERS:
            self.fields[name].choices = [("", anything), *listed[name]]
        # A value not offered is left out of the figures, and said so.
        self.fields["period"].error_messages["invalid_choice"] = (
            "Not one of the periods offered: the last 30 days are shown."
        )
        for name, field in self.fields.items():
            if name != "period":
                shown = str(field.choices[0][1]).lower()
                field.error_messages["invalid_choice"] = (
                    f"Not one of the choices: {shown} is shown."
                )
