"""Parsing dispatch's forms: the rule editor turns its flat fields into a
rule's conditions and actions; nothing here writes."""

from __future__ import annotations

import re

from django import forms

from helpdesk.models import Membership, SupportGroup
from helpdesk.tenancy import current_tenant
from tickets.models import Category, Mailbox, Organization, Ticket

from .models import AgentStatus, GroupDispatch, RoutingRule
from .rules import CONDITION_FIELDS

ANY = [("", "—")]


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n;]+", text or "") if part.strip()]


def _words(
    label: str,
    help_text: str = "Comma-separated words or phrases; whole words, case and accents ignored.",
) -> forms.CharField:  # noqa: E501
    return forms.CharField(label=label, required=False, max_length=2000, help_text=help_text)


class RuleForm(forms.Form):
    """One rule, as the editor shows it: each filled condition field is a
    condition, each filled action field an action."""

    name = forms.CharField(max_length=120)
    match = forms.ChoiceField(choices=RoutingRule.Match.choices, initial="all", label="Match")
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    cond_text = _words("Subject or message contains")
    cond_subject = _words("Subject contains")
    cond_body = _words("Message contains")
    cond_channel = forms.MultipleChoiceField(
        label="Channel is", required=False, choices=Ticket.Channel.choices
    )
    cond_requester_email = forms.CharField(
        label="Requester's email is", required=False, max_length=2000,
        help_text="Comma-separated addresses.",
    )  # fmt: skip
    cond_requester_domain = forms.CharField(
        label="Requester's domain is", required=False, max_length=2000,
        help_text="Comma-separated domains, such as example.com.",
    )  # fmt: skip
    cond_organization = forms.CharField(
        label="Organisation is", required=False, max_length=2000,
        help_text="Comma-separated organisation names, as in the contacts.",
    )  # fmt: skip
    cond_category = forms.MultipleChoiceField(label="Category is", required=False)
    cond_tag = forms.CharField(
        label="Has tag", required=False, max_length=500, help_text="Comma-separated tags."
    )
    cond_priority = forms.MultipleChoiceField(
        label="Priority is", required=False, choices=Ticket.Priority.choices
    )
    cond_type = forms.MultipleChoiceField(
        label="Type is", required=False, choices=Ticket.Type.choices
    )
    cond_mailbox = forms.MultipleChoiceField(label="Arrived in mailbox", required=False)
    cond_business_hours = forms.ChoiceField(
        label="Arrived", required=False,
        choices=[("", "any time"), ("inside", "inside business hours"),
                 ("outside", "outside business hours")],
    )  # fmt: skip
    act_group = forms.ChoiceField(label="Set group", required=False)
    act_category = forms.ChoiceField(label="Set category", required=False)
    act_priority = forms.ChoiceField(
        label="Set priority", required=False, choices=ANY + list(Ticket.Priority.choices)
    )
    act_type = forms.ChoiceField(
        label="Set type", required=False, choices=ANY + list(Ticket.Type.choices)
    )
    act_add_tags = forms.CharField(
        label="Add tags", required=False, max_length=500, help_text="Comma-separated tags."
    )
    act_assignee = forms.ChoiceField(label="Assign to agent", required=False)
    act_review = forms.BooleanField(label="Send to dispatcher review", required=False)
    stop = forms.BooleanField(
        label="Stop here",
        required=False,
        help_text="Later rules are skipped when this one matches.",
    )

    simulate_days = forms.IntegerField(
        label="Simulate over the last … days", required=False, min_value=1, max_value=365,
        initial=30, help_text="“Simulate” replays those days' tickets through the rules with "
        "this one as drafted, and saves nothing.",
    )  # fmt: skip

    CONDITION_PREFIX = "cond_"
    ACTION_PREFIX = "act_"

    def __init__(self, *args, groups, categories, mailboxes, agents, organizations=None, **kw):
        super().__init__(*args, **kw)
        self.organizations = organizations or {}
        category_choices = [(str(c.pk), str(c)) for c in categories]
        group_choices = [(str(g.pk), g.name) for g in groups]
        self.fields["cond_category"].choices = category_choices
        self.fields["cond_mailbox"].choices = [(str(m.pk), m.address) for m in mailboxes]
        self.fields["act_group"].choices = ANY + group_choices
        self.fields["act_category"].choices = ANY + category_choices
        self.fields["act_assignee"].choices = ANY + [
            (str(u.pk), u.get_full_name() or u.username) for u in agents
        ]

    @classmethod
    def initial_from(cls, rule: RoutingRule, organization_names: dict[str, str]) -> dict:
        initial = {
            "name": rule.name, "match": rule.match, "is_enabled": rule.is_enabled,
            "stop": rule.stop,
        }  # fmt: skip
        for condition in rule.conditions:
            name, value = condition["field"], condition.get("value")
            key = f"cond_{name}"
            if name == "business_hours":
                initial[key] = "inside" if value else "outside"
            elif name == "organization":
                initial[key] = ", ".join(organization_names.get(str(v), str(v)) for v in value)
            elif isinstance(cls.base_fields[key], forms.MultipleChoiceField):
                initial[key] = [str(v) for v in value]
            else:
                initial[key] = ", ".join(map(str, value))
        for key, value in rule.actions.items():
            if key == "add_tags":
                initial["act_add_tags"] = ", ".join(value)
            else:
                initial[f"act_{key}"] = value if key == "review" else str(value)
        return initial

    def clean_cond_organization(self):
        names = _split(self.cleaned_data.get("cond_organization"))
        unknown = [n for n in names if n.casefold() not in self.organizations]
        if unknown:
            raise forms.ValidationError(f"No organisation called {', '.join(unknown)}.")
        return [self.organizations[n.casefold()] for n in names]

    def rule_parts(self) -> tuple[list, dict]:
        """(conditions, actions) from the cleaned fields."""
        data = self.cleaned_data
        conditions = []
        for name in CONDITION_FIELDS:
            value = data.get(f"cond_{name}")
            if name == "business_hours":
                if value:
                    conditions.append({"field": name, "value": value == "inside"})
                continue
            if isinstance(value, str):
                value = _split(value)
            if name in ("priority", "category", "mailbox", "organization"):
                value = [int(v) for v in value or ()]
            if value:
                conditions.append({"field": name, "value": value})
        actions: dict = {}
        for key in ("group", "category", "assignee", "priority"):
            if data.get(f"act_{key}"):
                actions[key] = int(data[f"act_{key}"])
        if data.get("act_type"):
            actions["type"] = data["act_type"]
        tags = [t.lower() for t in _split(data.get("act_add_tags"))]
        if tags:
            actions["add_tags"] = tags
        if data.get("act_review"):
            actions["review"] = True
        return conditions, actions


class TesterForm(forms.Form):
    ticket = forms.IntegerField(
        label="Ticket number", required=False, min_value=1,
        help_text="Test an existing ticket, or paste a subject and message instead.",
    )  # fmt: skip
    subject = forms.CharField(label="Subject", required=False, max_length=200)
    body = forms.CharField(
        label="Message", required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def clean(self):
        data = super().clean()
        if not data.get("ticket") and not (data.get("subject") or data.get("body")):
            raise forms.ValidationError("Give a ticket number, or a subject and a message.")
        return data


class GroupDispatchForm(forms.Form):
    """A group's dispatch settings; the chosen rows come back as ids."""

    FIELDS = (
        "mode", "strategy", "leader", "overflow_group", "overflow_after_minutes",
        "skill_fallback_minutes", "escalation_group", "escalate_on_breach", "accept_minutes",
    )  # fmt: skip

    mode = forms.ChoiceField(choices=GroupDispatch.Mode.choices)
    strategy = forms.ChoiceField(choices=GroupDispatch.Strategy.choices)
    leader = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    overflow_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Overflow group",
        help_text="When nobody in this group has room, its members may take the ticket "
        "(it stays in this group).",
    )  # fmt: skip
    overflow_after_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=10080, initial=0, label="Overflow after (minutes)",
        help_text="How long nobody here has room before the overflow group is offered the "
        "ticket; 0 offers it at once.",
    )  # fmt: skip
    skill_fallback_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=10080, label="Skill fallback after (minutes)",
        help_text="How long a ticket waits for a member with the required skills before any "
        "member may take it; leave empty to always wait.",
    )  # fmt: skip
    escalation_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Next tier (escalation)",
        help_text="Where the ticket page's Escalate button sends a ticket.",
    )  # fmt: skip
    escalate_on_breach = forms.BooleanField(
        required=False, label="Escalate on SLA breach",
        help_text="A breached SLA target moves the ticket to the next tier by itself.",
    )  # fmt: skip
    accept_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=1440, label="Accept within (minutes)",
        help_text="Leave empty for no acceptance. Otherwise an automatic assignee accepts "
        "or declines within this time, or the ticket goes to the next candidate.",
    )  # fmt: skip

    def __init__(self, *args, groups, agents, **kwargs):
        super().__init__(*args, **kwargs)
        for key in ("overflow_group", "escalation_group"):
            self.fields[key].choices = ANY + [(g.pk, g.name) for g in groups]
        self.fields["leader"].choices = ANY + [
            (u.pk, u.get_full_name() or u.username) for u in agents
        ]


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(choices=AgentStatus.Availability.choices)


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(min_value=0, max_value=500)
    skills = forms.CharField(required=False, max_length=1000)

    def clean_skills(self):
        skills = {}
        for part in _split(self.cleaned_data.get("skills")):
            name, _, level = part.partition("=")
            name = name.strip().lower()
            if not re.fullmatch(r"[a-z0-9][a-z0-9:_\-]{0,39}", name):
                raise forms.ValidationError(f"“{part}”: a skill is a name such as language:de.")
            try:
                skills[name] = max(1, min(5, int(level or 1)))
            except ValueError:
                raise forms.ValidationError(f"“{part}”: the level is 1 to 5.") from None
        return skills


class ReviewForm(forms.Form):
    assignee = forms.IntegerField()


class DeclineForm(forms.Form):
    reason = forms.CharField(max_length=500, label="Why you decline")


class WeightsForm(forms.Form):
    """The tenant's weight table (a field per priority, and per channel and
    priority where a channel differs), the waiting fraction, idle minutes
    and business hours. Built from the priorities and channels given."""

    waiting_fraction = forms.DecimalField(
        min_value=0, max_value=1, decimal_places=2, max_digits=3,
        label="Pending and on-hold tickets count at",
        help_text="A fraction of their weight, from 0 (not at all) to 1 (fully).",
    )  # fmt: skip
    away_after_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=1440, label="Set idle agents away after (minutes)",
        help_text="Leave empty to never set agents away by themselves.",
    )  # fmt: skip
    business_days = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(1, "Monday"), (2, "Tuesday"), (3, "Wednesday"), (4, "Thursday"),
                 (5, "Friday"), (6, "Saturday"), (7, "Sunday")],
        label="Business days",
    )  # fmt: skip
    business_start = forms.TimeField(
        required=False, label="Opens at", widget=forms.TimeInput(attrs={"type": "time"})
    )
    business_end = forms.TimeField(
        required=False, label="Closes at", widget=forms.TimeInput(attrs={"type": "time"})
    )

    def __init__(self, *args, priorities, channels, **kwargs):
        super().__init__(*args, **kwargs)
        self.priorities, self.channels = priorities, channels
        for value, label in priorities:
            self.fields[f"w_{value}"] = self._weight(f"{label}", required=True)
            for channel, channel_label in channels:
                self.fields[f"w_{value}_{channel}"] = self._weight(
                    f"{label}, {channel_label}", required=False
                )

    @staticmethod
    def _weight(label, *, required):
        return forms.DecimalField(
            required=required, min_value=0, max_value=50, decimal_places=2, max_digits=4,
            label=f"Weight: {label}",
        )  # fmt: skip

    def clean(self):
        data = super().clean()
        start, end = data.get("business_start"), data.get("business_end")
        if (start is None) != (end is None):
            raise forms.ValidationError("Give both the opening and the closing time, or neither.")
        if start is not None and end is not None and start >= end:
            raise forms.ValidationError("The closing time comes after the opening time.")
        return data

    def tables(self) -> tuple[dict, dict]:
        """(priority weights, channel weights) as stored: strings of numbers."""
        data = self.cleaned_data
        base = {str(value): str(data[f"w_{value}"]) for value, _ in self.priorities}
        by_channel: dict = {}
        for channel, _ in self.channels:
            for value, _ in self.priorities:
                weight = data.get(f"w_{value}_{channel}")
                if weight is not None:
                    by_channel.setdefault(channel, {})[str(value)] = str(weight)
        return base, by_channel


class EscalateForm(forms.Form):
    reason = forms.CharField(max_length=1000, label="Why it needs the next tier")


def agents_of_tenant():
    return [
        m.user
        for m in Membership.objects.filter(tenant=current_tenant())
        .select_related("user")
        .order_by("user__first_name", "user__username")
    ]


def organization_lookup() -> tuple[dict[str, int], dict[str, str]]:
    rows = list(Organization.objects.values_list("pk", "name"))
    return {name.casefold(): pk for pk, name in rows}, {str(pk): name for pk, name in rows}


def rule_form_choices() -> dict:
    return {
        "groups": list(SupportGroup.objects.all()),
        "categories": list(Category.objects.select_related("parent")),
        "mailboxes": list(Mailbox.objects.all()),
        "agents": agents_of_tenant(),
    }
