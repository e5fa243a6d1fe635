"""Parsing and rendering only: what a field means is decided by the services."""

import re

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from helpdesk.api.errors import NON_FIELD_KEY
from helpdesk.api.fields import INT32_MAX, BoundedListField, EmailAddressField, IdField, TextField
from helpdesk.parsing import parse_id

from ..models import Message, Ticket
from ..services.tickets import MAX_TAGS

# Priorities travel by name ("high"), not by their stored number.
PRIORITY_BY_NAME = {choice.name.lower(): choice.value for choice in Ticket.Priority}
PRIORITY_NAME = {value: name for name, value in PRIORITY_BY_NAME.items()}
# Channels the API opens tickets on; email, web form and portal have their own intake.
API_CHANNELS = [Ticket.Channel.API, Ticket.Channel.PHONE, Ticket.Channel.CHAT]
AUTHOR_TYPES = ["agent", "contact", "system"]
# What tickets.services.normalize_tags accepts, before it lowers the case; the
# same expression in the schema (no \d or \w: those differ between Python and
# the JavaScript-style patterns of JSON Schema).
TAG_CHARACTERS = "[A-Za-z0-9][A-Za-z0-9_-]{0,39}"
TAG_RE = re.compile(TAG_CHARACTERS)


class PriorityField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=list(PRIORITY_BY_NAME), **kwargs)

    def to_internal_value(self, data) -> int:
        return PRIORITY_BY_NAME[super().to_internal_value(data)]

    def to_representation(self, value) -> str:
        return PRIORITY_NAME[value]


# ---------------------------------------------------------------- out


class ContactOut(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField()


class AuthorOut(serializers.Serializer):
    type = serializers.ChoiceField(choices=AUTHOR_TYPES)
    name = serializers.CharField()
    username = serializers.CharField(required=False, help_text="Agents only.")
    email = serializers.EmailField(required=False, help_text="Contacts only.")


class MessageOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    is_public = serializers.BooleanField(help_text="False for internal notes.")
    author = serializers.SerializerMethodField()
    body_text = serializers.CharField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(AuthorOut)
    def get_author(self, message: Message) -> dict:
        if message.author_user_id:
            user = message.author_user
            return {
                "type": "agent",
                "name": user.get_full_name() or user.username,
                "username": user.username,
            }
        if message.author_contact_id:
            contact = message.author_contact
            return {"type": "contact", "name": contact.display_name, "email": contact.email}
        return {"type": "system", "name": "System"}


class TicketOut(serializers.Serializer):
    number = serializers.IntegerField(help_text="Per tenant; the ticket's address in the API.")
    reference = serializers.CharField(help_text="As agents and customers see it, e.g. ACME-1042.")
    url = serializers.SerializerMethodField()
    subject = serializers.CharField()
    status = serializers.ChoiceField(choices=Ticket.Status.choices)
    priority = PriorityField()
    type = serializers.ChoiceField(choices=Ticket.Type.choices)
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices)
    tags = serializers.ListField(child=serializers.CharField())
    cc_emails = serializers.ListField(child=serializers.EmailField())
    requester = ContactOut()
    assignee = serializers.SerializerMethodField(help_text="The agent's username.")
    group = serializers.SerializerMethodField(help_text="The group's name.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    first_response_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField(help_text="Send it back with a change (PATCH).")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, ticket: Ticket) -> str:
        request = self.context["request"]
        return reverse("api:ticket", args=[ticket.tenant.slug, ticket.number], request=request)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_assignee(self, ticket: Ticket) -> str | None:
        return ticket.assignee.username if ticket.assignee_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_group(self, ticket: Ticket) -> str | None:
        return ticket.group.name if ticket.group_id else None


class TicketDetailOut(TicketOut):
    messages = serializers.SerializerMethodField(
        help_text="Every message, internal notes included (is_public false)."
    )

    @extend_schema_field(MessageOut(many=True))
    def get_messages(self, ticket: Ticket) -> list:
        return MessageOut(self.context["messages"], many=True).data


class TicketPageOut(serializers.Serializer):
    results = TicketOut(many=True)
    next = serializers.URLField(
        allow_null=True, help_text="The next page, or null on the last one."
    )


class ErrorsOut(serializers.Serializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=f'Messages by field; "{NON_FIELD_KEY}" for the request as a whole.',
    )


class ConflictOut(ErrorsOut):
    current_version = serializers.IntegerField()
    changed_by = serializers.CharField()
    changed_at = serializers.DateTimeField()


# ---------------------------------------------------------------- in


class TicketListQuery(serializers.Serializer):
    after = IdField(
        in_query=True, required=False, help_text="The last ticket number of the previous page."
    )
    limit = IdField(in_query=True, required=False, max_value=100, default=25)
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = PriorityField(required=False)
    requester = EmailAddressField(required=False, help_text="The requester's email.")
    assignee = TextField(required=False, max_length=150, help_text="The agent's username or id.")

    def validate_assignee(self, value: str) -> int | str:
        # An id when it is one (ASCII digits), else a username.
        number = parse_id(value)
        return value if number is None else number


@extend_schema_field(
    {"type": "string", "pattern": f"^{TAG_CHARACTERS}$", "maxLength": 40, "minLength": 1}
)
class TagField(TextField):
    """A tag as the services accept it; upper case is lowered there."""

    default_error_messages = {"invalid": "Tags use letters, digits, - and _ (up to 40)."}

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not TAG_RE.fullmatch(value):
            self.fail("invalid")
        return value


def _tags_field(**kwargs) -> BoundedListField:
    return BoundedListField(
        child=TagField(),
        max_length=MAX_TAGS,
        help_text=f"At most {MAX_TAGS}; stored in lower case, each once.",
        **kwargs,
    )


class TicketCreateIn(serializers.Serializer):
    requester_email = EmailAddressField()
    requester_name = TextField(required=False, allow_blank=True, max_length=160, default="")
    subject = TextField(max_length=200)
    body = TextField(help_text="The customer's request, plain text.")
    channel = serializers.ChoiceField(choices=API_CHANNELS, default=Ticket.Channel.API)
    # Left out, not defaulted here: a default skips PriorityField's name-to-number step.
    priority = PriorityField(required=False, help_text="normal when left out.")
    type = serializers.ChoiceField(choices=Ticket.Type.choices, default=Ticket.Type.QUESTION)
    tags = _tags_field(required=False, default=list)
    cc_emails = BoundedListField(
        child=EmailAddressField(),
        max_length=settings.TICKET_MAX_CC,
        required=False,
        default=list,
    )


class TicketUpdateIn(serializers.Serializer):
    version = IdField(
        max_value=INT32_MAX,
        help_text="The version the change was made on (from the last read).",
    )
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = PriorityField(required=False)
    type = serializers.ChoiceField(choices=Ticket.Type.choices, required=False)
    tags = _tags_field(required=False)
    assignee = TextField(
        required=False,
        allow_null=True,
        max_length=150,
        help_text="An agent's username; null unassigns.",
    )
    group = TextField(
        required=False,
        allow_null=True,
        max_length=80,
        help_text="A group's name or id; null clears it.",
    )


class MessageCreateIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Message.Kind.choices, default=Message.Kind.CUSTOMER)
    body = TextField(help_text="Plain text.")
    author_email = EmailAddressField(
        required=False,
        help_text="Customer messages: who wrote it (becomes a contact); the requester if left out.",
    )
    author_name = TextField(required=False, allow_blank=True, max_length=160, default="")
    agent = TextField(
        required=False,
        max_length=150,
        help_text="Replies and notes: the username of the agent writing it.",
    )
    version = IdField(
        required=False,
        max_value=INT32_MAX,
        help_text="Refuse (409) if the ticket changed since.",
    )

    def validate(self, data):
        if data["kind"] == Message.Kind.CUSTOMER:
            if data.get("agent"):
                raise serializers.ValidationError(
                    {"agent": "Customer messages are written by a contact: leave agent out."}
                )
        else:
            if not data.get("agent"):
                raise serializers.ValidationError(
                    {"agent": "A reply or a note needs the username of the agent writing it."}
                )
            if data.get("author_email"):
                raise serializers.ValidationError(
                    {"author_email": "Only customer messages have an author email."}
                )
        return data
