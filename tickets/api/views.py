"""Thin API views: parse with a serializer, call a service or selector, render."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from helpdesk.api.views import TenantApiView
from helpdesk.models import SupportGroup
from helpdesk.parsing import parse_id
from helpdesk.tenancy import current_tenant

from .. import selectors, services
from ..models import Message, Ticket
from . import serializers as s

ERRORS = {
    400: OpenApiResponse(s.ErrorsOut, description="Invalid input: messages by field."),
    401: OpenApiResponse(s.ErrorsOut, description="Missing, unknown or revoked key."),
    403: OpenApiResponse(s.ErrorsOut, description="The key has the read scope."),
    404: OpenApiResponse(s.ErrorsOut, description="No such ticket in this tenant."),
    405: OpenApiResponse(s.ErrorsOut, description="Not a method of this URL (see `Allow`)."),
    413: OpenApiResponse(s.ErrorsOut, description="The body is larger than the API reads."),
    415: OpenApiResponse(s.ErrorsOut, description="The body is not application/json."),
    429: OpenApiResponse(
        s.ErrorsOut, description="Too many requests for this key; see `Retry-After`."
    ),
}
# Every operation can answer these; writes with a body also 400, 413 and 415.
ALWAYS = (401, 405, 429)
WITH_BODY = (400, 413, 415)


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in sorted({*codes, *ALWAYS})}


def _shown(value: str) -> str:
    """A value the client sent, quoted in a message: never the whole megabyte."""
    return repr(value if len(value) <= 60 else f"{value[:57]}...")


class TicketApiView(TenantApiView):
    """A ticket API view: the tenant's request, tickets by number, and the
    answer to an edit made on an old version."""

    def ticket(self, number: int) -> Ticket:
        return selectors.ticket_get(number=number)

    def conflict(self, error: services.TicketConflict, expected: int) -> Response:
        current = error.ticket.version
        if expected > current:
            # Not a change someone made since: a version that never was.
            raise ValidationError(
                {
                    "version": f"The ticket is at version {current}; there is no version "
                    f"{expected} yet. Send the version of your last read."
                }
            )
        return Response(
            {
                "errors": {
                    "version": [
                        f"{error.changed_by} changed the ticket after version {expected}; it is "
                        f"now at version {current}. Read it again and resend your change."
                    ]
                },
                "current_version": current,
                "changed_by": error.changed_by,
                "changed_at": error.changed_at,
            },
            status=status.HTTP_409_CONFLICT,
        )


def _agent(username: str, field: str):
    """An active agent of the current tenant, by username, or a field error."""
    agent = (
        get_user_model()
        .objects.filter(
            username=username,
            is_active=True,
            memberships__tenant=current_tenant(),
            memberships__is_active=True,
        )
        .first()
    )
    if agent is None:
        raise ValidationError({field: f"No agent with the username {_shown(username)} here."})
    return agent


def _group(value: str) -> SupportGroup:
    """A group of the current tenant by id (digits) or by name, or a field error."""
    group_id = parse_id(value)
    group = (
        SupportGroup.objects.filter(name=value).first()
        if group_id is None
        else SupportGroup.objects.filter(pk=group_id).first()
    )
    if group is None:
        raise ValidationError({"group": f"No group {_shown(value)} here."})
    return group


class TicketCollection(TicketApiView):
    @extend_schema(
        operation_id="tickets_list",
        summary="List tickets, newest first",
        parameters=[s.TicketListQuery],
        responses={200: s.TicketPageOut, **_errors(400)},
    )
    def get(self, request: Request, api_tenant: str) -> Response:
        # A plain dict, not the QueryDict: DRF reads an empty "?status=" in a
        # QueryDict as left out, where the schema calls it invalid.
        query = self.parse(s.TicketListQuery, request.query_params.dict())
        tickets, next_cursor = selectors.ticket_list(
            before=query.get("after"),
            limit=query["limit"],
            status=query.get("status"),
            priority=query.get("priority"),
            requester_email=query.get("requester"),
            assignee=query.get("assignee"),
        )
        next_url = None
        if next_cursor is not None:
            params = request.query_params.copy()
            params["after"] = str(next_cursor)
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        results = s.TicketOut(tickets, many=True, context={"request": request}).data
        return Response({"results": results, "next": next_url})

    @extend_schema(
        operation_id="tickets_create",
        summary="Open a ticket with the customer's first message",
        request=s.TicketCreateIn,
        responses={201: s.TicketOut, **_errors(403, *WITH_BODY)},
    )
    def post(self, request: Request, api_tenant: str) -> Response:
        data = self.parse(s.TicketCreateIn, request.data)
        # No actor: the ticket is the requester's, brought in through this channel.
        ticket = services.ticket_create(actor=None, **data)
        body = s.TicketOut(ticket, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class TicketItem(TicketApiView):
    @extend_schema(
        operation_id="tickets_read",
        summary="A ticket with all its messages",
        responses={200: s.TicketDetailOut, **_errors(404)},
    )
    def get(self, request: Request, api_tenant: str, number: int) -> Response:
        ticket = self.ticket(number)
        messages = selectors.ticket_messages(ticket=ticket)
        context = {"request": request, "messages": messages}
        return Response(s.TicketDetailOut(ticket, context=context).data)

    @extend_schema(
        operation_id="tickets_update",
        summary="Change a ticket's fields",
        request=s.TicketUpdateIn,
        responses={
            200: s.TicketOut,
            409: OpenApiResponse(s.ConflictOut, description="Changed since `version`."),
            **_errors(403, 404, *WITH_BODY),
        },
    )
    def patch(self, request: Request, api_tenant: str, number: int) -> Response:
        ticket = self.ticket(number)
        data = self.parse(s.TicketUpdateIn, request.data)
        expected = data.pop("version")
        if data.get("assignee") is not None:
            data["assignee"] = _agent(data["assignee"], "assignee")
        if data.get("group") is not None:
            data["group"] = _group(data["group"])
        try:
            # No actor: the change is the integration's; the timeline shows "System via API key".
            ticket = services.ticket_update(
                ticket=ticket, actor=None, expected_version=expected, **data
            )
        except services.TicketConflict as error:
            return self.conflict(error, expected)
        ticket = self.ticket(number)
        return Response(s.TicketOut(ticket, context={"request": request}).data)


class TicketMessages(TicketApiView):
    @extend_schema(
        operation_id="tickets_messages_create",
        summary="Add a customer message, a public reply or an internal note",
        request=s.MessageCreateIn,
        responses={
            201: s.MessageOut,
            409: OpenApiResponse(s.ConflictOut, description="Changed since `version`."),
            **_errors(403, 404, *WITH_BODY),
        },
    )
    def post(self, request: Request, api_tenant: str, number: int) -> Response:
        ticket = self.ticket(number)
        data = self.parse(s.MessageCreateIn, request.data)
        author_user = author_contact = None
        if data["kind"] == Message.Kind.CUSTOMER:
            author_contact = ticket.requester
            if data.get("author_email"):
                author_contact = services.contact_get_or_create(
                    email=data["author_email"], name=data["author_name"]
                )
        else:
            author_user = _agent(data["agent"], "agent")
        try:
            message = services.message_add(
                ticket=ticket,
                kind=data["kind"],
                body=data["body"],
                author_user=author_user,
                author_contact=author_contact,
                expected_version=data.get("version"),
            )
        except services.TicketConflict as error:
            return self.conflict(error, data["version"])
        return Response(s.MessageOut(message).data, status=status.HTTP_201_CREATED)
