"""Reads that several parts of one page need (its forms, its queue list),
made once per request and kept on it."""

from .. import queues, selectors


def tenant_choices(request) -> selectors.TenantChoices:
    """The tenant's groups, agents and categories for the page's forms, and
    the viewer's groups: one query, however many forms show them."""
    choices = getattr(request, "_tenant_choices", None)
    if choices is None:
        choices = request._tenant_choices = selectors.tenant_choices(user=request.user)
    return choices


def member_queues(request) -> list[queues.Queue]:
    """The viewer's queues: their groups taken from `tenant_choices` when the
    page has read them, else read alone (a refresh shows no form)."""
    listed = getattr(request, "_member_queues", None)
    if listed is None:
        choices = getattr(request, "_tenant_choices", None)
        mine = None
        if choices is not None:
            mine = [(pk, name) for pk, name in choices.groups if pk in choices.my_group_ids]
        listed = queues.queues_for(membership=request.membership, groups=mine)
        request._member_queues = listed
    return listed


def member_queue(request, slug: str) -> queues.Queue:
    """The viewer's queue named `slug`, or 404."""
    return queues.queue_get(membership=request.membership, slug=slug, queues=member_queues(request))
