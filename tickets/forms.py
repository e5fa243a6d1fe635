from django import forms

from .models import Message, Ticket
from .selectors import assignable_agents, category_choices, group_choices


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class TenantChoicesMixin:
    """Fills the tenant's groups, agents and categories into the choice fields.
    Built inside the request, so the querysets are scoped to the tenant."""

    def fill_tenant_choices(self, tenant):
        for name in ("group", "assignee", "category"):
            if name in self.fields:
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


class TicketCreateForm(TenantChoicesMixin, forms.Form):
    """A request logged by an agent: from a phone call, a chat, or on a customer's behalf."""

    requester_email = forms.EmailField(label="Customer email")
    requester_name = forms.CharField(label="Customer name", max_length=160, required=False)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(label="Description", widget=forms.Textarea(attrs={"rows": 6}))
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

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant)


class TicketUpdateForm(TenantChoicesMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(choices=Ticket.Status.choices)
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int)
    type = forms.ChoiceField(choices=Ticket.Type.choices)
    category = forms.ModelChoiceField(queryset=None, required=False)
    group = forms.ModelChoiceField(queryset=None, required=False)
    assignee = forms.ModelChoiceField(queryset=None, required=False)
    tags = forms.CharField(required=False)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fill_tenant_choices(tenant)

    @classmethod
    def for_ticket(cls, ticket, **kwargs):
        return cls(
            initial={
                "version": ticket.version,
                "status": ticket.status,
                "priority": ticket.priority,
                "type": ticket.type,
                "category": ticket.category_id,
                "group": ticket.group_id,
                "assignee": ticket.assignee_id,
                "tags": ", ".join(ticket.tags),
            },
            tenant=ticket.tenant,
            **kwargs,
        )


class ReplyForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        choices=[(Message.Kind.REPLY, "Public reply"), (Message.Kind.NOTE, "Internal note")],
        initial=Message.Kind.REPLY,
        widget=forms.RadioSelect,
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), label="Message")
    status_after = forms.ChoiceField(
        label="and set status",
        required=False,
        choices=[("", "(keep)"), *[c for c in Ticket.Status.choices if c[0] != "new"]],
    )
    attachments = MultipleFileField()
