"""SLA settings forms: they parse and check input; the services write."""

from __future__ import annotations

import re
import zoneinfo

from django import forms
from django.core.exceptions import ValidationError

from helpdesk.models import SupportGroup
from tickets.models import Category, Organization, Ticket

from .models import WEEKDAYS, Calendar, Policy, TargetKind

_PAIR = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*([dhm])", re.IGNORECASE)
# The longest target a policy may set (a target is kept in whole seconds).
MAX_DURATION_DAYS = 365
# The longest closure one entry may add.
MAX_CLOSURE_DAYS = 366


def parse_windows(text: str, day: str) -> list[list[str]]:
    """ "09:00-12:00, 13:00-17:00" -> [["09:00", "12:00"], ["13:00", "17:00"]].
    An end not after its start crosses midnight (22:00-06:00); overlaps
    and a window that starts and ends at the same minute are refused."""
    pairs: list[list[str]] = []
    spans: list[tuple[int, int]] = []
    for chunk in [c for c in text.split(",") if c.strip()]:
        match = _PAIR.match(chunk)
        if not match:
            raise ValidationError(f"{day}: write windows as 09:00-12:00, separated by commas.")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValidationError(f"{day}: {chunk.strip()} is not a time of day.")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValidationError(f"{day}: the window {chunk.strip()} ends where it starts.")
        # An end before the start is a night over midnight only when it
        # starts in the afternoon or evening and ends by noon; otherwise it
        # is a slip (10:00-09:00).
        if end < start and end != 0 and not (start >= 720 and end <= 720):
            raise ValidationError(
                f"{day}: the window {chunk.strip()} ends before it starts. "
                "A window over midnight starts after noon and ends by noon (22:00-06:00)."
            )
        spans.append((start, end if end > start else end + 1440))
        pairs.append([f"{h1:02}:{m1:02}", f"{h2:02}:{m2:02}"])
    ordered = sorted(spans)
    for (_a_start, a_end), (b_start, _b_end) in zip(ordered, ordered[1:], strict=False):
        if b_start < a_end:
            raise ValidationError(f"{day}: windows overlap.")
    return pairs


def parse_duration(text: str) -> int | None:
    """ "4h", "30m", "1d 2h", "1.5h" -> seconds; "" -> None."""
    text = (text or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        text += "h"
    found = _DURATION.findall(text)
    if not found or _DURATION.sub("", text).strip():
        raise ValidationError(f"{text[:40]!r}: write a duration as 4h, 30m or 1d 2h.")
    seconds = sum(float(n) * {"d": 86400, "h": 3600, "m": 60}[unit.lower()] for n, unit in found)
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValidationError(f"A target may be at most {MAX_DURATION_DAYS} days.")
    if seconds <= 0:
        raise ValidationError("A target of 0 can never be met: give a time or leave it empty.")
    return int(seconds)


def duration_text(seconds: int | None) -> str:
    if not seconds:
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours}h {minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=80)
    time_zone = forms.ChoiceField(
        choices=[(z, z) for z in sorted(zoneinfo.available_timezones())], initial="Europe/Berlin"
    )
    always_open = forms.BooleanField(
        required=False,
        label="Open 24/7",
        help_text="Every hour counts; hours and holidays are ignored.",
    )
    holiday_country = forms.CharField(
        max_length=3,
        required=False,
        label="Public holidays of country",
        help_text="Country code, e.g. DE, US, GB (empty: none).",
    )
    holiday_subdivision = forms.CharField(
        max_length=10,
        required=False,
        label="State or region",
        help_text="e.g. BE for Berlin, NY for New York (empty: the whole country's).",
    )

    def __init__(self, *args, calendar: Calendar | None = None, **kwargs):
        if calendar is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": calendar.name,
                "time_zone": calendar.time_zone,
                "always_open": calendar.always_open,
                "holiday_country": calendar.holiday_country,
                "holiday_subdivision": calendar.holiday_subdivision,
                **{
                    f"day_{i}": ", ".join(f"{a}-{b}" for a, b in calendar.hours.get(str(i), []))
                    for i in range(7)
                },
            }
        super().__init__(*args, **kwargs)
        for i, day in enumerate(WEEKDAYS):
            self.fields[f"day_{i}"] = forms.CharField(
                required=False,
                label=day,
                help_text="e.g. 09:00-12:00, 13:00-17:00; 22:00-06:00 runs past midnight.",
            )

    def clean(self):
        data = super().clean()
        hours = {}
        for i, day in enumerate(WEEKDAYS):
            try:
                pairs = parse_windows(data.get(f"day_{i}", ""), day)
            except ValidationError as error:
                self.add_error(f"day_{i}", error)
                continue
            if pairs:
                hours[str(i)] = pairs
        data["hours"] = hours
        country = (data.get("holiday_country") or "").upper()
        subdivision = (data.get("holiday_subdivision") or "").upper()
        data["holiday_country"], data["holiday_subdivision"] = country, subdivision
        if country:
            import holidays

            supported = holidays.list_supported_countries()
            if country not in supported:
                self.add_error(
                    "holiday_country", f"{country} is not a country the holiday list knows."
                )
            elif subdivision and subdivision not in supported[country]:
                self.add_error(
                    "holiday_subdivision",
                    f"{country} has no region {subdivision}; known: {', '.join(supported[country][:30])}.",
                )
        elif subdivision:
            self.add_error("holiday_country", "Give the country of that region.")
        if not data.get("always_open") and not hours and not self.errors:
            raise ValidationError("Give opening hours on at least one day, or make it 24/7.")
        return data


class ClosureForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="e.g. Company party")
    first_date = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    last_date = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: one day.",
    )
    start_time = forms.TimeField(
        required=False,
        label="Closed from",
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="Empty: the whole day.",
    )
    end_time = forms.TimeField(
        required=False, label="Closed until", widget=forms.TimeInput(attrs={"type": "time"})
    )

    def clean(self):
        data = super().clean()
        first, last = data.get("first_date"), data.get("last_date")
        if first and not last:
            data["last_date"] = first
        elif first and last and last < first:
            self.add_error("last_date", "The last day comes before the first.")
        elif first and last and (last - first).days >= MAX_CLOSURE_DAYS:
            # Most often a mistyped year; a calendar closed for good would
            # leave its tickets without deadlines.
            self.add_error(
                "last_date",
                f"A closure lasts at most {MAX_CLOSURE_DAYS} days: check the year, "
                "or add another closure for the rest.",
            )
        start, end = data.get("start_time"), data.get("end_time")
        if bool(start) != bool(end):
            self.add_error("end_time", "Give both times of a partial closure, or neither.")
        elif start and end and end <= start:
            self.add_error("end_time", "A closure ends after it starts.")
        return data


def _choices(queryset, label=str):
    return [(row.pk, label(row)) for row in queryset]


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=80)
    position = forms.IntegerField(
        min_value=0, initial=10, help_text="Policies are tried from the lowest number up."
    )
    active = forms.BooleanField(required=False, initial=True)
    calendar = forms.ChoiceField(help_text="Business hours and holidays the targets count in.")
    priorities = forms.TypedMultipleChoiceField(
        choices=Ticket.Priority.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    channels = forms.MultipleChoiceField(
        choices=Ticket.Channel.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    types = forms.MultipleChoiceField(
        choices=Ticket.Type.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Ticket types",
    )
    organization_ids = forms.TypedMultipleChoiceField(
        coerce=int, required=False, label="Customer organisations"
    )
    category_ids = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Categories")
    group_ids = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Groups")
    tags = forms.CharField(
        required=False, help_text="Any of these tags, separated by commas (empty: any ticket)."
    )
    pause_statuses = forms.MultipleChoiceField(
        choices=[(s, Ticket.Status(s).label) for s in ("pending", "on_hold")],
        required=False,
        initial=["pending", "on_hold"],
        widget=forms.CheckboxSelectMultiple,
        label="Statuses that pause the clock",
    )
    at_risk_percent = forms.IntegerField(
        min_value=1, max_value=99, initial=80, label="At risk at (% of the target used)"
    )
    remind_after_hours = forms.IntegerField(
        min_value=1,
        max_value=720,
        required=False,
        label="Remind the assignee after (hours without activity)",
        help_text="Empty: no reminders. Not while the ticket waits in a pausing status.",
    )
    escalate_priority = forms.BooleanField(
        required=False, label="On breach, raise the priority one step"
    )
    escalate_group = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="On breach, move to group"
    )

    def __init__(self, *args, policy: Policy | None = None, **kwargs):
        targets = {}
        if policy is not None:
            targets = {(t.priority, t.kind): t for t in policy.targets.all()}
            if "initial" not in kwargs:
                kwargs["initial"] = {
                    "name": policy.name,
                    "position": policy.position,
                    "active": policy.active,
                    "calendar": policy.calendar_id,
                    "priorities": policy.priorities,
                    "channels": policy.channels,
                    "types": policy.types,
                    "organization_ids": policy.organization_ids,
                    "category_ids": policy.category_ids,
                    "group_ids": policy.group_ids,
                    "tags": ", ".join(policy.tags),
                    "pause_statuses": policy.pause_statuses,
                    "at_risk_percent": policy.at_risk_percent,
                    "remind_after_hours": policy.remind_after_hours,
                    "escalate_priority": policy.escalate_priority,
                    "escalate_group": policy.escalate_group_id,
                    **{
                        f"target_{p}_{k}": duration_text(t.seconds) for (p, k), t in targets.items()
                    },
                    **{
                        f"business_{k}": any(
                            t.business for (p, kk), t in targets.items() if kk == k
                        )
                        for k in TargetKind.values
                    },
                }
        super().__init__(*args, **kwargs)
        self.fields["calendar"].choices = _choices(Calendar.objects.order_by("name"))
        self.fields["organization_ids"].choices = _choices(
            Organization.objects.order_by("name")[:500]
        )
        self.fields["category_ids"].choices = _choices(
            Category.objects.select_related("parent").order_by("parent__name", "name")[:500]
        )
        groups = _choices(SupportGroup.objects.order_by("name"))
        self.fields["group_ids"].choices = groups
        self.fields["escalate_group"].choices = [("", "— keep the group —"), *groups]
        self.target_rows = []
        for priority, label in Ticket.Priority.choices:
            row = []
            for kind, kind_label in TargetKind.choices:
                name = f"target_{priority}_{kind}"
                self.fields[name] = forms.CharField(
                    required=False, label=f"{kind_label}, {label.lower()} priority"
                )
                row.append(name)
            self.target_rows.append((label, row))
        for kind, kind_label in TargetKind.choices:
            self.fields[f"business_{kind}"] = forms.BooleanField(
                required=False,
                initial=True,
                label=f"{kind_label} counts business hours only",
            )

    def condition_fields(self):
        return [
            self[n]
            for n in (
                "priorities",
                "channels",
                "types",
                "organization_ids",
                "category_ids",
                "group_ids",
                "tags",
            )
        ]

    def setting_fields(self):
        return [
            self[n]
            for n in (
                "name",
                "position",
                "active",
                "calendar",
                "pause_statuses",
                "at_risk_percent",
                "remind_after_hours",
                "escalate_priority",
                "escalate_group",
            )
        ]

    def target_table(self):
        return [(label, [self[n] for n in names]) for label, names in self.target_rows]

    def business_fields(self):
        return [self[f"business_{k}"] for k in TargetKind.values]

    def clean(self):
        data = super().clean()
        data["tags"] = sorted(
            {t.strip().lower() for t in (data.get("tags") or "").split(",") if t.strip()}
        )
        targets = {}
        for priority, _label in Ticket.Priority.choices:
            for kind in TargetKind.values:
                name = f"target_{priority}_{kind}"
                try:
                    seconds = parse_duration(data.get(name, ""))
                except ValidationError as error:
                    self.add_error(name, error)
                    continue
                if seconds:
                    targets[(priority, kind)] = (seconds, bool(data.get(f"business_{kind}")))
        data["targets"] = targets
        if not targets and not self.errors:
            raise ValidationError("Give at least one target.")
        priorities = data.get("priorities") or []
        if priorities and targets and not any(p in priorities for p, _ in targets):
            raise ValidationError(
                "This policy can never set a deadline: it matches only priorities it has no targets for."
            )
        return data


class WhatIfForm(forms.Form):
    created_at = forms.DateTimeField(
        label="Created at (your help desk's time zone)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int, initial=2)
    channel = forms.ChoiceField(choices=Ticket.Channel.choices, initial="email")
    type = forms.ChoiceField(choices=Ticket.Type.choices, label="Ticket type")
    organization = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Customer organisation"
    )
    category = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    group = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    tags = forms.CharField(required=False, help_text="Separated by commas.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [
            ("", "—"),
            *_choices(Organization.objects.order_by("name")[:500]),
        ]
        self.fields["category"].choices = [
            ("", "—"),
            *_choices(
                Category.objects.select_related("parent").order_by("parent__name", "name")[:500]
            ),
        ]
        self.fields["group"].choices = [("", "—"), *_choices(SupportGroup.objects.order_by("name"))]
