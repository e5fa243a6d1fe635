"""The tenant's settings console: home, general settings and logo, people,
invitations, groups and the audit log. Admins only; thin: each view parses
one form and calls one service or selector."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import selectors, services
from ..extensions import settings_sections_for
from ..forms import (
    AcceptNewUserForm,
    AuditFilterForm,
    GroupForm,
    GroupMemberForm,
    InviteForm,
    LogoForm,
    RoleForm,
    TenantSettingsForm,
)
from ..mail import tenant_sender_address
from ..models import Invitation, Membership, SupportGroup, Tenant
from ..permissions import role_required
from ..services.members import (
    InvitationInvalid,
    invitation_existing_user,
    invitation_get_usable,
    invitation_tenant_from_token,
)
from ..services.tenant import LOGO_CONTENT_TYPES
from ..tenancy import tenant_context

ADMIN = Membership.Role.ADMIN


def _form_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


# ---------------------------------------------------------------- home and general


@require_GET
@role_required(ADMIN)
def settings_home(request, tenant_slug):
    """The settings home: every section the admin may open, and what needs doing."""
    sections = [
        entry for entry in settings_sections_for(request.membership)
        if entry["section"].name != "helpdesk.general"
    ]  # fmt: skip
    return render(
        request,
        "helpdesk/settings/home.html",
        {"sections": sections, "needs_support_address": not request.tenant.support_email},
    )


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def tenant_general(request, tenant_slug):
    """Name, ticket prefix, time zone, colour, support address and logo."""
    # Edit a copy: a refused change must not show up half-applied in the header.
    tenant = Tenant.objects.get(pk=request.tenant.pk)
    form = TenantSettingsForm(request.POST or None, instance=tenant)
    if request.method == "POST" and form.is_valid():
        try:
            services.tenant_update_settings(
                tenant=tenant, actor=request.user, **{f: form.cleaned_data[f] for f in form.fields}
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("tenant_general", tenant_slug)
    return render(
        request,
        "helpdesk/settings/general.html",
        {"form": form, "logo_form": LogoForm(), "current": request.tenant},
    )


@require_POST
@role_required(ADMIN)
def tenant_logo_upload(request, tenant_slug):
    form = LogoForm(request.POST, request.FILES)
    if request.POST.get("remove"):
        services.tenant_logo_remove(tenant=request.tenant, actor=request.user)
        messages.success(request, "Logo removed.")
        return redirect("tenant_general", tenant_slug)
    if form.is_valid():
        try:
            services.tenant_logo_set(
                tenant=request.tenant, actor=request.user, upload=form.cleaned_data["logo"]
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Logo saved.")
            return redirect("tenant_general", tenant_slug)
    tenant = Tenant.objects.get(pk=request.tenant.pk)
    return render(
        request,
        "helpdesk/settings/general.html",
        {"form": TenantSettingsForm(instance=tenant), "logo_form": form, "current": tenant},
    )


@require_GET
def tenant_logo(request, tenant_slug):
    """The tenant's logo, for its members' header: only the image kinds the
    upload allowed, never sniffed by the browser, never run as a document."""
    name = request.tenant.logo.name
    kind = name.rsplit(".", 1)[-1] if name else ""
    if kind not in LOGO_CONTENT_TYPES:
        raise Http404("No logo.")
    try:
        handle = request.tenant.logo.open("rb")
    except FileNotFoundError as error:
        raise Http404("No logo.") from error
    response = FileResponse(handle, content_type=LOGO_CONTENT_TYPES[kind])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------- people


def _accept_url_for(request):
    return lambda token: request.build_absolute_uri(reverse("invitation_accept", args=[token]))


def _people_page(request, invite_form=None, status=200):
    return render(
        request,
        "helpdesk/settings/people.html",
        {
            "members": selectors.member_list(),
            "invitations": selectors.invitations_open(),
            "invite_form": invite_form or InviteForm(),
            "roles": Membership.Role.choices,
            "sender": tenant_sender_address(request.tenant),
            "now": timezone.now(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def people(request, tenant_slug):
    """Members with role and status; invite someone by email."""
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_create(
                actor=request.user, accept_url_for=_accept_url_for(request), **form.cleaned_data
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("people", tenant_slug)
    return _people_page(request, form)


def _member_or_404(membership_id: int) -> Membership:
    membership = selectors.member_get(membership_id)
    if membership is None:
        raise Http404("No such member.")
    return membership


def _refused(request, error: ValidationError, tenant_slug):
    for text in error.messages:
        messages.error(request, text)
    return redirect("people", tenant_slug)


@require_POST
@role_required(ADMIN)
def member_role(request, tenant_slug, membership_id):
    membership = _member_or_404(membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("people", tenant_slug)
    try:
        membership = services.member_change_role(
            actor=request.user, membership=membership, role=form.cleaned_data["role"]
        )
    except ValidationError as error:
        return _refused(request, error, tenant_slug)
    name = membership.user.get_full_name() or membership.user.username
    messages.success(request, f"{name} is now {membership.get_role_display().lower()}.")
    return redirect("people", tenant_slug)


@require_POST
@role_required(ADMIN)
def member_deactivate(request, tenant_slug, membership_id):
    membership = _member_or_404(membership_id)
    try:
        services.member_deactivate(actor=request.user, membership=membership)
    except ValidationError as error:
        return _refused(request, error, tenant_slug)
    name = membership.user.get_full_name() or membership.user.username
    messages.success(
        request, f"{name} is deactivated: they can no longer open this help desk, "
        "and their open tickets are unassigned."
    )  # fmt: skip
    return redirect("people", tenant_slug)


@require_POST
@role_required(ADMIN)
def member_reactivate(request, tenant_slug, membership_id):
    membership = _member_or_404(membership_id)
    services.member_reactivate(actor=request.user, membership=membership)
    name = membership.user.get_full_name() or membership.user.username
    messages.success(request, f"{name} is active again.")
    return redirect("people", tenant_slug)


def _invitation_or_404(invitation_id: int) -> Invitation:
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


@require_POST
@role_required(ADMIN)
def invitation_resend(request, tenant_slug, invitation_id):
    invitation = _invitation_or_404(invitation_id)
    try:
        services.invitation_resend(
            actor=request.user, invitation=invitation, accept_url_for=_accept_url_for(request)
        )
    except ValidationError as error:
        return _refused(request, error, tenant_slug)
    messages.success(request, f"Invitation sent to {invitation.email} again.")
    return redirect("people", tenant_slug)


@require_POST
@role_required(ADMIN)
def invitation_revoke(request, tenant_slug, invitation_id):
    invitation = _invitation_or_404(invitation_id)
    services.invitation_revoke(actor=request.user, invitation=invitation)
    messages.success(request, f"The invitation to {invitation.email} no longer works.")
    return redirect("people", tenant_slug)


# ---------------------------------------------------------------- accepting an invitation


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """Where the invitation's link leads (no tenant page: the invitee is not
    a member yet). The link names its tenant, signed; the view runs inside
    that tenant's context. A new person makes an account; someone who has
    one (in another help desk) signs in and accepts."""
    try:
        tenant, invitation_id = invitation_tenant_from_token(token)
    except InvitationInvalid as error:
        return render(request, "helpdesk/invitation.html", {"problem": str(error)}, status=410)
    with tenant_context(tenant):
        response = _invitation_accept(request, tenant, invitation_id)
        if hasattr(response, "render"):
            response.render()
        return response


def _invitation_accept(request, tenant, invitation_id):
    try:
        invitation = invitation_get_usable(invitation_id)
    except InvitationInvalid as error:
        return render(request, "helpdesk/invitation.html", {"problem": str(error)}, status=410)
    existing = invitation_existing_user(invitation)
    context = {"invitation": invitation, "invited_tenant": tenant, "existing": existing}
    if existing is not None:
        if not request.user.is_authenticated or request.user.pk != existing.pk:
            context["login_url"] = f"{reverse('login')}?next={request.path}"
            return render(request, "helpdesk/invitation.html", context)
        if request.method == "POST":
            try:
                services.invitation_accept(invitation=invitation, user=request.user)
            except InvitationInvalid as error:
                return render(request, "helpdesk/invitation.html", {"problem": str(error)})
            messages.success(request, f"Welcome to {tenant.name}.")
            return redirect("tickets:home", tenant.slug)
        return render(request, "helpdesk/invitation.html", context)
    form = AcceptNewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.invitation_accept_new_user(
                invitation=invitation,
                username=data["username"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                password=data["password1"],
            )
        except ValidationError as error:
            _form_errors(form, error)
        except InvitationInvalid as error:
            return render(request, "helpdesk/invitation.html", {"problem": str(error)})
        else:
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to {tenant.name}.")
            return redirect("tickets:home", tenant.slug)
    context["form"] = form
    return render(request, "helpdesk/invitation.html", context)


# ---------------------------------------------------------------- groups


def _group_or_404(group_id: int) -> SupportGroup:
    group = SupportGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise Http404("No such group.")
    return group


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def group_list(request, tenant_slug):
    """Every group, with its member count; make a new one."""
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Group “{group.name}” created.")
            return redirect("group_edit", tenant_slug, group.pk)
    return render(
        request, "helpdesk/settings/groups.html", {"groups": selectors.group_list(), "form": form}
    )


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def group_edit(request, tenant_slug, group_id):
    """Rename a group, archive it, and who is in it."""
    group = _group_or_404(group_id)
    form = GroupForm(
        request.POST or None, initial={"name": group.name, "description": group.description}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.group_update(actor=request.user, group=group, **form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Group saved.")
            return redirect("group_edit", tenant_slug, group.pk)
    members = list(
        group.members.select_related("user").order_by("user__first_name", "user__username")
    )
    in_group = {member.user_id for member in members}
    people = [
        (pk, name) for pk, name in selectors.people_choices(active=True) if pk not in in_group
    ]
    return render(
        request,
        "helpdesk/settings/group_edit.html",
        {
            "group": group,
            "form": form,
            "members": members,
            "member_form": GroupMemberForm(people=people),
        },
    )


@require_POST
@role_required(ADMIN)
def group_archive(request, tenant_slug, group_id):
    group = _group_or_404(group_id)
    archived = request.POST.get("archived") != "0"
    services.group_set_archived(actor=request.user, group=group, archived=archived)
    messages.success(
        request,
        f"“{group.name}” is archived: it leaves the choice lists and queues; its tickets keep it."
        if archived
        else f"“{group.name}” is back in use.",
    )
    return redirect("group_edit", tenant_slug, group.pk)


@require_POST
@role_required(ADMIN)
def group_members(request, tenant_slug, group_id):
    """Add (`user`) or remove (`remove`) a member of a group."""
    group = _group_or_404(group_id)
    try:
        if request.POST.get("remove"):
            services.group_member_remove(
                actor=request.user, group=group, user_id=int(request.POST["remove"])
            )
            messages.success(request, "Taken out of the group.")
        else:
            form = GroupMemberForm(request.POST, people=selectors.people_choices(active=True))
            if not form.is_valid():
                raise ValidationError("Choose someone to add.")
            services.group_member_add(
                actor=request.user, group=group, user_id=form.cleaned_data["user"]
            )
            messages.success(request, "Added to the group.")
    except (ValidationError, ValueError) as error:
        messages.error(request, " ".join(getattr(error, "messages", ["Choose someone."])))
    return redirect("group_edit", tenant_slug, group.pk)


# ---------------------------------------------------------------- audit log


@require_GET
@role_required(ADMIN)
def audit_log(request, tenant_slug):
    """Every settings change: who, what, before, after, when; by person and area."""
    form = AuditFilterForm(request.GET or None, people=selectors.people_choices())
    filters = form.cleaned_data if form.is_valid() else {}
    page = selectors.audit_page(
        person=filters.get("person"), area=filters.get("area") or "", before=filters.get("before")
    )
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "helpdesk/settings/audit.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )
