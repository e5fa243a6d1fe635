import json
import secrets
import time

from django import forms
from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured, ValidationError

from helpdesk.parsing import parse_id

from .attachments import attachment_refusal
from .extensions import queue_filters
from .models import Contact, Message, Organization, Ticket
from .selectors import (
    assignable_agents,
    category_choices,
    category_choices_in_tree_order,
    group_choices,
)


def add_service_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form fields it names."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error.messages)


# Text people write in any language (Hebrew, Arabic): the browser sets the
# direction from what is typed. A widget instance is copied per form field.
AUTO_DIR_INPUT = forms.TextInput(attrs={"dir": "auto"})


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        """The files, checked here as well as in the service, so that a
        refused file is reported together with every other mistake in the
        form rather than only once the rest is right."""
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        files = [super(MultipleFileField, self).clean(item, initial) for item in files]
        problems = [refusal for upload in files if (refusal := attachment_refusal(upload))]
        if len(files) > settings.ATTACHMENT_MAX_FILES:
            problems.append(f"At most {settings.ATTACHMENT_MAX_FILES} files per message.")
        if problems:
            raise ValidationError(problems)
        return files


class TenantChoicesMixin:
    """Fills the tenant's groups, agents and categories into the choice fields.
    Built inside the request, so the querysets are scoped to the tenant.

    Given `choices` (`selectors.tenant_choices`, read once per request), the
    fields offer those and no field reads its own; posted values are still
    checked against the querysets."""

    def fill_tenant_choices(self, tenant, choices=None):
        for name in ("group", "assignee", "category"):
            # Keep a field's own empty label ("Any group"); replace Django's dashes.
            if name in self.fields and self.fields[name].empty_label == "---------":
                self.fields[name].empty_label = "—"
        if "group" in self.fields:
            self.fields["group"].queryset = group_choices()
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = assignable_agents(tenant)
            self.fields["assignee"].label_from_instance = lambda user: (
                user.get_full_name() or user.username
            )
        if "category" in self.fields:
            self.fields["category"].queryset = category_choices()
        if choices is not None:
            self.offer_tenant_choices(choices)

    def offer_tenant_choices(self, choices) -> None:
        """Show `choices` (`selectors.tenant_choices`) in the fields, so that
        drawing the form reads nothing."""
        for name, listed in (
            ("group", choices.groups),
            ("assignee", choices.agents),
            ("category", choices.categories),
        ):
            if name in self.fields:
                offer_listed_choices(self.fields[name], listed)


def offer_listed_choices(field: forms.ModelChoiceField, listed: list[tuple[int, str]]) -> None:
    """Show `listed` ((id, label) pairs) in a model choice field instead of
    iterating its queryset, which would read it again for every field."""
    empty = [] if field.empty_label is None else [("", field.empty_label)]
    field.choices = [*empty, *listed]


class TicketCreateForm(TenantChoicesMixin, forms.Form):
    """A request logged by an agent: from a phone call, a chat, or on a customer's behalf."""

    requester_email = forms.EmailField(label="Customer email")
    requester_name = forms.CharField(
        label="Customer name", max_length=160, required=False, widget=AUTO_DIR_INPUT
    )
    subject = forms.CharField(max_length=200, widget=AUTO_DIR_INPUT)
    body = forms.CharField(
        label="Description", widget=forms.Textarea(attrs={"rows": 6, "dir": "auto"})
    )
    channel = forms.ChoiceField(choices=Ticket.Channel.choices, initial=Ticket.Channel.PHONE)
    priority = forms.TypedChoiceField(
        choices=Ticket.Priority.choices, coerce=int, initial=Ticket.Priority.NORMAL
    )
    type = forms.ChoiceField(choices=Ticket.Type.choices, initial=Ticket.Type.QUESTION)
    category = forms.ModelChoiceField(queryset=None, required=False)
    group = forms.ModelChoiceField(queryset=None, required=False)
    assignee = forms.ModelChoiceField(queryset=None, required=False)
    tags = forms.CharField(required=False, help_text="Separated by commas or spaces.")
    cc_emails = forms.CharField(label="CC", required=False, help_text="Email addresses.")
    attachments = MultipleFileField()

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)


class TicketUpdateForm(TenantChoicesMixin, forms.Form):
    """The Details panel. It carries the values it was opened with
    (`opened`), so that saving sends only what this agent changed, and an
    edit on a page another agent changed meanwhile can be merged."""

    MERGED_FIELDS = ("status", "priority", "type", "category", "group", "assignee", "tags")

    version = forms.IntegerField(widget=forms.HiddenInput)
    opened = forms.CharField(widget=forms.HiddenInput, required=False)
    status = forms.ChoiceField(choices=Ticket.Status.choices)
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int)
    type = forms.ChoiceField(choices=Ticket.Type.choices)
    category = forms.ModelChoiceField(queryset=None, required=False)
    group = forms.ModelChoiceField(queryset=None, required=False)
    assignee = forms.ModelChoiceField(queryset=None, required=False)
    tags = forms.CharField(required=False)

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)

    @staticmethod
    def ticket_values(ticket) -> dict:
        """The raw values of the panel's fields, as `opened` carries them."""
        return {
            "status": ticket.status,
            "priority": ticket.priority,
            "type": ticket.type,
            "category": ticket.category_id,
            "group": ticket.group_id,
            "assignee": ticket.assignee_id,
            "tags": list(ticket.tags),
        }

    @classmethod
    def initial_for(cls, ticket) -> dict:
        values = cls.ticket_values(ticket)
        return {
            **values,
            "version": ticket.version,
            "opened": json.dumps(values),
            "tags": ", ".join(ticket.tags),
        }

    @classmethod
    def for_ticket(cls, ticket, **kwargs):
        form = cls(initial=cls.initial_for(ticket), tenant=ticket.tenant, **kwargs)
        form.keep_current_values(ticket)
        return form

    def keep_current_values(self, ticket) -> None:
        """A ticket's archived group or category, or its deactivated
        assignee, is not in the lists but stays offered on its own ticket:
        saving other fields must not clear it."""
        current = (
            ("group", ticket.group_id, lambda: f"{ticket.group.name} (archived)"),
            ("category", ticket.category_id, lambda: f"{ticket.category.name} (archived)"),
            ("assignee", ticket.assignee_id, lambda: (
                f"{ticket.assignee.get_full_name() or ticket.assignee.username} (deactivated)"
            )),
        )  # fmt: skip
        for name, value, label in current:
            field = self.fields.get(name)
            if value is None or field is None or not isinstance(field.choices, list):
                continue
            if all(str(pk) != str(value) for pk, _ in field.choices):
                field.choices = [*field.choices, (value, label())]

    def opened_values(self) -> dict | None:
        """The values the form was opened with (checked for shape), or None
        when it did not carry them (a page from before they were carried)."""
        try:
            opened = json.loads(self.cleaned_data.get("opened") or "")
        except ValueError:
            return None
        if not isinstance(opened, dict):
            return None
        kinds = {
            "status": str,
            "type": str,
            "priority": int,
            "category": (int, type(None)),
            "group": (int, type(None)),
            "assignee": (int, type(None)),
        }
        values = {}
        for field in self.MERGED_FIELDS:
            value = opened.get(field)
            if field == "tags":
                if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
                    values[field] = value
            elif field in opened and isinstance(value, kinds[field]) and value is not True:
                values[field] = value
        return values

    def _raw(self, field: str):
        value = self.cleaned_data.get(field)
        if field in ("category", "group", "assignee"):
            return getattr(value, "pk", None)
        if field == "tags":
            from .services import normalize_tags

            try:
                return normalize_tags(value or "")
            except ValidationError:
                return value  # not a list: counts as changed, and the service explains
        return value

    def changes(self) -> dict:
        """The fields this agent changed from what the form was opened with,
        as the service takes them; every field when that is not known."""
        opened = self.opened_values()
        return {
            field: self.cleaned_data[field]
            for field in self.MERGED_FIELDS
            if opened is None or field not in opened or self._raw(field) != opened[field]
        }


class ReplyForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        choices=[(Message.Kind.REPLY, "Public reply"), (Message.Kind.NOTE, "Internal note")],
        initial=Message.Kind.REPLY,
        widget=forms.RadioSelect,
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "dir": "auto"}), label="Message")
    status_after = forms.ChoiceField(
        label="and set status",
        required=False,
        choices=[("", "(keep)"), *[c for c in Ticket.Status.choices if c[0] != "new"]],
    )
    attachments = MultipleFileField()


class QueueFilterForm(TenantChoicesMixin, forms.Form):
    """The filters and sort of a queue page, read from the query string."""

    status = forms.MultipleChoiceField(choices=Ticket.Status.choices, required=False)
    priority = forms.TypedMultipleChoiceField(
        choices=Ticket.Priority.choices, coerce=int, required=False
    )
    type = forms.ChoiceField(choices=[("", "Any type"), *Ticket.Type.choices], required=False)
    channel = forms.ChoiceField(
        choices=[("", "Any channel"), *Ticket.Channel.choices], required=False
    )
    group = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any group")
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Anyone")
    category = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any category")
    tag = forms.CharField(required=False, max_length=40)
    requester = forms.CharField(
        required=False, max_length=200, help_text="Requester email or organisation name"
    )
    created_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    updated_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    updated_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[])

    def __init__(self, *args, tenant, sorts, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)
        sort = self.fields.pop("sort")
        sort.choices = [("", "Default order"), *sorts.items()]
        # Other apps' filters (tickets.extensions.queue_filters), then the order.
        for item in queue_filters:
            if item.name in self.fields:
                raise ImproperlyConfigured(f"queue filter {item.name!r} names a built-in field")
            self.fields[item.name] = forms.ChoiceField(
                label=item.label,
                choices=[("", item.any_label), *item.choices],
                required=False,
            )
        self.fields["sort"] = sort

    def conditions(self):
        """(the filter as a Q, whether resolved/closed tickets were asked for)."""
        from django.db.models import Q

        data = self.cleaned_data
        q = Q()
        if data["status"]:
            q &= Q(status__in=data["status"])
        if data["priority"]:
            q &= Q(priority__in=data["priority"])
        for field in ("type", "channel"):
            if data[field]:
                q &= Q(**{field: data[field]})
        for field in ("group", "assignee", "category"):
            if data[field] is not None:
                q &= Q(**{field: data[field]})
        if data["tag"]:
            q &= Q(tags__contains=[data["tag"].strip().lower()])
        if data["requester"]:
            term = data["requester"].strip()
            # Look the contacts up first (plain "=" on the stored lower-case
            # email can use its index under row-level security; lower() and
            # iexact cannot), then pass their ids as a list: with a short list
            # Postgres reads their tickets through ticket_requester_idx instead
            # of walking the whole queue looking for them.
            contact_ids = list(
                Contact.objects.filter(
                    Q(email=term.lower())
                    | Q(organization__in=Organization.objects.filter(name=term).values("pk"))
                ).values_list("pk", flat=True)[:1000]
            )
            q &= Q(requester__in=contact_ids)
        if data["created_from"]:
            q &= Q(created_at__date__gte=data["created_from"])
        if data["created_to"]:
            q &= Q(created_at__date__lte=data["created_to"])
        if data["updated_from"]:
            q &= Q(updated_at__date__gte=data["updated_from"])
        if data["updated_to"]:
            q &= Q(updated_at__date__lte=data["updated_to"])
        for item in queue_filters:
            if data.get(item.name):
                q &= item.narrow(data[item.name])
        wants_closed = bool(set(data["status"]) - set(Ticket.OPEN_STATUSES))
        return q, wants_closed


class BulkActionForm(TenantChoicesMixin, forms.Form):
    ACTIONS = [
        ("assign", "Assign to"),
        ("status", "Set status"),
        ("priority", "Set priority"),
        ("group", "Move to group"),
        ("tag", "Add tag"),
    ]
    numbers = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    action = forms.ChoiceField(choices=ACTIONS)
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody")
    status = forms.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int, required=False)
    group = forms.ModelChoiceField(queryset=None, required=False, empty_label="No group")
    tag = forms.CharField(required=False, max_length=40)

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)
        # Any number may be posted; the service looks them up within the tenant.
        self.fields["numbers"].valid_value = lambda value: parse_id(value) is not None

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "status" and not data.get("status"):
            self.add_error("status", "Choose a status.")
        if action == "priority" and not data.get("priority"):
            self.add_error("priority", "Choose a priority.")
        if action == "tag" and not (data.get("tag") or "").strip():
            self.add_error("tag", "Type a tag.")
        return data

    def changes(self) -> dict:
        data = self.cleaned_data
        action = data["action"]
        if action == "assign":
            return {"assignee": data["assignee"]}
        if action == "group":
            return {"group": data["group"]}
        if action == "tag":
            return {"add_tag": data["tag"]}
        return {action: data[action]}


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    query = forms.CharField(max_length=1000, required=False, widget=forms.HiddenInput)
    queue = forms.CharField(max_length=40, widget=forms.HiddenInput)
    shared_with = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Only me", label="Share with"
    )

    def __init__(self, *args, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shared_with"].queryset = group_choices()
        if choices is not None:
            offer_listed_choices(self.fields["shared_with"], choices.groups)


class BoardFilterForm(TenantChoicesMixin, forms.Form):
    group = forms.ModelChoiceField(queryset=None, required=False, empty_label="All groups")
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Anyone")
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Ticket.Priority.choices],
        coerce=int,
        required=False,
        empty_value=None,
    )
    tag = forms.CharField(
        required=False, max_length=40, widget=forms.TextInput(attrs={"placeholder": "Any tag"})
    )

    def __init__(self, *args, tenant, choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant, choices)

    def conditions(self):
        from django.db.models import Q

        data = self.cleaned_data
        q = Q()
        for field in ("group", "assignee", "priority"):
            if data[field] is not None:
                q &= Q(**{field: data[field]})
        if data["tag"]:
            q &= Q(tags__contains=[data["tag"].strip().lower()])
        return q


class CannedResponseForm(forms.Form):
    title = forms.CharField(max_length=120, widget=AUTO_DIR_INPUT)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "dir": "auto"}),
        help_text="Placeholders: {requester_name}, {ticket_number}, {agent_name}.",
    )


class WebRequestForm(forms.Form):
    """The public web form: what a customer tells us, plus two traps for bots."""

    STARTED_SALT = "tickets.web_form.started"

    requester_name = forms.CharField(label="Your name", max_length=160, widget=AUTO_DIR_INPUT)
    requester_email = forms.EmailField(label="Your email")
    subject = forms.CharField(max_length=200, widget=AUTO_DIR_INPUT)
    body = forms.CharField(
        label="Description",
        widget=forms.Textarea(attrs={"rows": 6, "dir": "auto"}),
        help_text="What happened, and what you expected instead.",
    )
    category = forms.ModelChoiceField(queryset=None, required=False, empty_label="Not sure")
    attachments = MultipleFileField(help_text="Screenshots or documents, optional.")
    # The honeypot: hidden from people (CSS and aria-hidden), filled in by bots.
    website = forms.CharField(required=False, label="Leave this field empty")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built inside the tenant's context: only its own categories are offered or accepted.
        self.fields["category"].queryset = category_choices_in_tree_order()
        self.fields["website"].widget.attrs.update({"tabindex": "-1", "autocomplete": "off"})
        self.fields["requester_email"].widget.attrs["autocomplete"] = "email"
        self.fields["requester_name"].widget.attrs["autocomplete"] = "name"
        # The form token (the "started" hidden input): signed, with when the
        # form was first shown, so a post sooner than a person can type is
        # refused, and a random nonce, so each form shown has a token of its
        # own that opens at most one ticket (services.web_form_ticket_create).
        # A posted token that verifies is kept when the form is shown again.
        posted = self.data.get("started", "")
        self.started_at = self._verified_start(posted)
        if self.started_at is None:
            self.renew_token()
        else:
            self.token = posted

    def renew_token(self) -> None:
        """Give the form a new token, as if it had just been shown."""
        self.started_at = time.time()
        self.token = signing.dumps(
            {"at": self.started_at, "nonce": secrets.token_urlsafe(16)}, salt=self.STARTED_SALT
        )

    @classmethod
    def _verified_start(cls, token: str) -> float | None:
        try:
            value = signing.loads(token, salt=cls.STARTED_SALT)
        except signing.BadSignature:
            return None
        if isinstance(value, dict):
            value = value.get("at")
        # A bare time stamp is what forms shown before the nonce carried.
        return value if isinstance(value, int | float) else None

    @property
    def is_bot(self) -> bool:
        """True when the honeypot field was filled in."""
        return bool(self.data.get("website", "").strip())

    def clean(self):
        data = super().clean()
        started = self._verified_start(self.data.get("started", ""))
        if started is None or time.time() - started < settings.WEB_FORM_MIN_FILL_SECONDS:
            raise ValidationError(
                "That was quicker than we expected: please check the form and send it again."
            )
        return data


class MailboxForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="Shown to agents, e.g. Support or Billing.")
    address = forms.EmailField(help_text="The address customers write to.")
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="Active",
        help_text="Untick to stop taking in mail for this address.",
    )
    imap_host = forms.CharField(
        max_length=200,
        required=False,
        label="IMAP host",
        help_text="Leave empty when mail arrives through the webhook only.",
    )
    imap_port = forms.IntegerField(min_value=1, max_value=65535, initial=993, label="IMAP port")
    imap_ssl = forms.BooleanField(required=False, initial=True, label="Use TLS")
    imap_user = forms.CharField(max_length=200, required=False, label="IMAP user")
    imap_password = forms.CharField(
        max_length=200,
        required=False,
        label="IMAP password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the current one.",
    )
    imap_folder = forms.CharField(max_length=200, initial="INBOX", label="IMAP folder")
