"""Pages of the customer portal. Public (no agent login): each finds its
tenant through `public_tenant_view` first, so a token is looked up only in
its tenant's context, and answers every failure (wrong, revoked, another
ticket's or another tenant's token) with the same 404 page.

A ticket opens by its link (`/portal/<tenant>/t/<number>/<token>/`) or,
for a signed-in customer, by number (`/portal/<tenant>/tickets/<number>/`);
both routes share the views below, which get a `PortalAccess`.
"""

from __future__ import annotations

from functools import wraps

from csp.decorators import csp_replace
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.parsing import parse_id
from helpdesk.proxies import client_ip
from helpdesk.services.tenant import LOGO_CONTENT_TYPES
from helpdesk.tenancy import public_tenant_view

from ..forms import add_service_errors
from ..models import Contact, Ticket
from . import selectors, services
from .forms import PortalReplyForm, PortalTicketForm, RatingForm, SignInForm
from .selectors import CUSTOMER_STATUS, PortalAccess

SESSION_KEY = "portal_contact:{tenant_id}"
# Files a browser may show in the page's place; anything else downloads.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain"}


class NotFound(Exception):
    """Raised by the portal's checks; answered with the portal's one 404 page."""


def _secure(response, referrer_policy: str):
    """What every portal answer carries: not indexed, not cached, and a
    referrer policy (`no-referrer` where the URL holds a ticket link's
    token, so it never leaks to a site the customer follows a link to)."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    response.headers.setdefault("Referrer-Policy", referrer_policy)
    add_never_cache_headers(response)  # Cache-Control: no-store among others
    return response


def portal_view(view, *, referrer_policy="same-origin"):
    """A portal page: the tenant from the URL (public_tenant_view), the
    tenant's language, the portal's headers, and one 404 for every miss."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        language = selectors.portal_settings().language
        with translation.override(language):
            request.LANGUAGE_CODE = language
            try:
                response = view(request, *args, **kwargs)
            except (Http404, NotFound):
                response = render(
                    request, "portal/not_found.html", {"tenant": request.tenant}, status=404
                )
            except services.PortalRateLimited:
                response = render(
                    request, "portal/rate_limited.html", {"tenant": request.tenant}, status=429
                )
        return _secure(response, referrer_policy)

    return public_tenant_view("portal_tenant")(wrapper)


def _no_remote_images(view):
    # Stricter than the agent pages: no image from another site, ever (what
    # customers and agents wrote may point at trackers); no framing.
    return csp_replace({"img-src": ["'self'", "data:"], "frame-ancestors": ["'none'"]})(view)


def portal_page(view):
    """A page whose URL holds no secret (sign-in, the signed-in pages): a
    same-origin referrer policy, so its forms keep their Origin header and
    Django's CSRF check, and other sites still get no Referer."""
    return _no_remote_images(portal_view(view))


def link_page(view):
    """A page under a ticket link (`.../t/<number>/<token>/`): no Referer at
    all. A browser then sends `Origin: null` with the page's forms, which
    Django's CSRF check refuses; CSRF protection is not needed here anyway,
    as a forged request would have to know the link's token, the very
    secret the check stands in for. A signed-in customer's session is never
    read on these URLs."""
    return _no_remote_images(csrf_exempt(portal_view(view, referrer_policy="no-referrer")))


# ---------------------------------------------------------------- access


def _signed_in_contact(request) -> Contact | None:
    contact_id = request.session.get(SESSION_KEY.format(tenant_id=request.tenant.pk))
    if not contact_id:
        return None
    return Contact.objects.select_related("organization").filter(pk=contact_id).first()


def _access(request, number: int, token: str | None) -> PortalAccess:
    """The ticket this request may open, or NotFound."""
    if token is not None:
        if not services.lookup_allowed(client_ip(request)):
            raise services.PortalRateLimited
        link = selectors.portal_link_find(number=number, token=token)
        if link is None:
            raise NotFound
        return PortalAccess(ticket=link.ticket, email=link.email, link=link)
    contact = _signed_in_contact(request)
    if contact is None:
        raise NotFound
    ticket = (
        Ticket.objects.select_related("tenant", "assignee", "group", "requester")
        .filter(number=number)
        .first()
    )
    if ticket is None or not selectors.contact_may_see(contact, ticket):
        raise NotFound
    return PortalAccess(ticket=ticket, email=contact.email, contact=contact)


def _ticket_url(request, access: PortalAccess) -> str:
    ticket = access.ticket
    if access.link is not None:
        return reverse("portal:ticket", args=[request.tenant.slug, ticket.number, access.token])
    return reverse("portal:my_ticket", args=[request.tenant.slug, ticket.number])


def with_access(view):
    """Resolve the ticket from a link or a signed-in session before `view`."""

    @wraps(view)
    def wrapper(request, portal_tenant, number, token=None, **kwargs):
        access = _access(request, number, token)
        access.token = token
        access.url = _ticket_url(request, access)
        return view(request, access, **kwargs)

    return wrapper


# ---------------------------------------------------------------- the ticket page


def _worded(events):
    for event in events:
        if event.kind == "status_changed":
            value = (event.new_value or {}).get("value")
            event.status_words = _(CUSTOMER_STATUS.get(value, value or ""))
    return events


def _page(request, access: PortalAccess, *, reply_form=None, status=200):
    ticket = access.ticket
    solved = ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
    rating = selectors.current_rating(ticket=ticket) if solved else None
    settings_row = selectors.portal_settings()
    context = {
        "tenant": request.tenant,
        "ticket": ticket,
        "access": access,
        "status_words": _(CUSTOMER_STATUS[ticket.status]),
        "handler": selectors.handler_name(ticket),
        "timeline": _worded(selectors.portal_timeline(ticket=ticket)),
        "reply_form": reply_form or PortalReplyForm(),
        "can_reopen": services.reopen_allowed(ticket),
        "solved": solved,
        "rating": rating,
        "can_rate": solved and services.rating_changeable(rating),
        "rating_form": RatingForm(
            scale=settings_row.rating_scale,
            initial={"score": rating.score, "comment": rating.comment} if rating else None,
        ),
        # Whom the portal's blocks are drawn for (a CC without a contact
        # row gets an unsaved one: blocks read it, never write it).
        "viewer": selectors.viewer_contact(access),
        "signed_in": access.contact is not None,
    }
    return render(request, "portal/ticket.html", context, status=status)


@require_GET
@with_access
def _ticket_page(request, access):
    """A ticket as its customer sees it."""
    return _page(request, access)


@require_POST
@with_access
def _ticket_reply(request, access):
    """A customer's reply (with files); after the reopen window, a follow-up."""
    form = PortalReplyForm(request.POST, request.FILES)
    if form.is_valid():
        limit_key = f"link:{access.link.pk}" if access.link else f"contact:{access.contact.pk}"
        try:
            ticket, _message = services.portal_reply(
                ticket=access.ticket,
                email=access.email,
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
                limit_key=limit_key,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if ticket.pk == access.ticket.pk:
                return redirect(access.url + "#latest")
            if access.link is not None:
                token = services.portal_link_token(ticket=ticket, email=access.email)
                return redirect("portal:ticket", request.tenant.slug, ticket.number, token)
            return redirect("portal:my_ticket", request.tenant.slug, ticket.number)
    return _page(request, access, reply_form=form, status=400)


@require_POST
@with_access
def _ticket_solve(request, access):
    """ "This is solved": the customer resolves their ticket."""
    services.portal_solve(ticket=access.ticket, email=access.email)
    return redirect(access.url + "#rate")


@require_http_methods(["GET", "POST"])
@with_access
def _ticket_rate(request, access):
    """The rating page the mail's links open. A GET only shows the form
    (mail scanners follow links); only a POST records a rating."""
    ticket = access.ticket
    settings_row = selectors.portal_settings()
    rating = selectors.current_rating(ticket=ticket)
    initial = {"score": request.GET.get("score")} if request.method == "GET" else None
    if rating and request.method == "GET" and "score" not in request.GET:
        initial = {"score": rating.score, "comment": rating.comment}
    form = RatingForm(request.POST or None, scale=settings_row.rating_scale, initial=initial)
    status = 200
    recorded = False
    if request.method == "POST":
        if form.is_valid():
            try:
                rating = services.rating_record(
                    ticket=ticket,
                    email=access.email,
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                )
                recorded = True
            except ValidationError as error:
                add_service_errors(form, error)
                status = 400
        else:
            status = 400
    solved = ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
    return render(
        request,
        "portal/rate.html",
        {
            "tenant": request.tenant,
            "ticket": ticket,
            "access": access,
            "form": form,
            "rating": rating,
            "recorded": recorded,
            "solved": solved,
            "can_rate": solved and services.rating_changeable(rating),
        },
        status=status,
    )


@require_GET
@with_access
def _ticket_attachment(request, access, attachment_id):
    """A file of one of the ticket's public messages."""
    attachment = selectors.portal_attachment(ticket=access.ticket, attachment_id=attachment_id)
    if attachment is None:
        raise NotFound
    inline = attachment.content_type in INLINE_TYPES
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        filename=attachment.filename,
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ---------------------------------------------------------------- branding


@require_GET
@public_tenant_view("portal_tenant")
def portal_logo(request, portal_tenant):
    """The help desk's logo on its portal pages, where customers have no
    login: only the image kinds the upload allowed, never sniffed by the
    browser, never run as a document. It is public, like the name above it."""
    logo = request.tenant.logo
    kind = logo.name.rsplit(".", 1)[-1] if logo.name else ""
    if kind not in LOGO_CONTENT_TYPES:
        raise Http404("No logo.")
    try:
        handle = logo.open("rb")
    except FileNotFoundError as error:
        raise Http404("No logo.") from error
    response = FileResponse(handle, content_type=LOGO_CONTENT_TYPES[kind])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=3600"
    return response


# ---------------------------------------------------------------- sign-in


@portal_page
@require_http_methods(["GET", "POST"])
def portal_home(request, portal_tenant):
    """Ask for a sign-in link. The answer is the same for a known and an
    unknown address."""
    if request.method == "GET" and _signed_in_contact(request) is not None:
        return redirect("portal:my_tickets", request.tenant.slug)
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.signin_request(email=form.cleaned_data["email"], ip=client_ip(request))
        return render(
            request,
            "portal/signin_sent.html",
            {"tenant": request.tenant, "minutes": settings.PORTAL_SIGNIN_MINUTES},
        )
    status = 400 if request.method == "POST" else 200
    return render(
        request, "portal/home.html", {"tenant": request.tenant, "form": form}, status=status
    )


@portal_page
@require_http_methods(["GET", "POST"])
def portal_signin(request, portal_tenant, token):
    """The emailed sign-in link: a GET shows a button (scanners follow
    links), the POST spends the link. Wrong, used and expired links get one
    page."""
    if request.method == "GET":
        return render(request, "portal/signin.html", {"tenant": request.tenant})
    contact = services.signin_use(token=token)
    if contact is None:
        return render(request, "portal/link_expired.html", {"tenant": request.tenant}, status=404)
    request.session.cycle_key()
    request.session[SESSION_KEY.format(tenant_id=request.tenant.pk)] = contact.pk
    return redirect("portal:my_tickets", request.tenant.slug)


@portal_page
@require_POST
def portal_signout(request, portal_tenant):
    request.session.pop(SESSION_KEY.format(tenant_id=request.tenant.pk), None)
    return redirect("portal:home", request.tenant.slug)


def _signed_in(view):
    @wraps(view)
    def wrapper(request, portal_tenant, *args, **kwargs):
        contact = _signed_in_contact(request)
        if contact is None:
            return redirect("portal:home", request.tenant.slug)
        return view(request, contact, *args, **kwargs)

    return wrapper


@portal_page
@require_GET
@_signed_in
def my_tickets(request, contact):
    """A signed-in customer's tickets (and their organisation's, where
    shared), a page at a time: `?before=<number>` older, `?after=` newer."""
    cursors = {}
    for name in ("before", "after"):
        value = parse_id(request.GET.get(name, ""))
        if value is not None:
            cursors[name] = value
    page = selectors.contact_tickets(contact=contact, **cursors)
    for ticket in page.tickets:
        ticket.status_words = _(CUSTOMER_STATUS[ticket.status])
    return render(
        request,
        "portal/my_tickets.html",
        {
            "tenant": request.tenant,
            "contact": contact,
            "tickets": page.tickets,
            "page": page,
            "signed_in": True,
        },
    )


@portal_page
@require_http_methods(["GET", "POST"])
@_signed_in
def new_ticket(request, contact):
    """Open a ticket from the portal: the web form's fields and limits."""
    form = PortalTicketForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = services.portal_ticket_create(
                    contact=contact,
                    subject=data["subject"],
                    body=data["body"],
                    category=data["category"],
                    attachments=data["attachments"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return redirect("portal:my_ticket", request.tenant.slug, ticket.number)
    return render(
        request,
        "portal/new_ticket.html",
        {"tenant": request.tenant, "form": form, "signed_in": True},
        status=status,
    )


# Each ticket view twice: under a ticket link, and for a signed-in customer.
ticket_page = link_page(_ticket_page)
ticket_reply = link_page(_ticket_reply)
ticket_solve = link_page(_ticket_solve)
ticket_rate = link_page(_ticket_rate)
ticket_attachment = _no_remote_images(
    portal_view(_ticket_attachment, referrer_policy="no-referrer")
)
my_ticket_page = portal_page(_ticket_page)
my_ticket_reply = portal_page(_ticket_reply)
my_ticket_solve = portal_page(_ticket_solve)
my_ticket_rate = portal_page(_ticket_rate)
my_ticket_attachment = portal_view(_ticket_attachment)
