"""The settings console: people, invitations, groups, the tenant's own
settings and the audit log, as an admin uses them."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from helpdesk import selectors, services
from helpdesk.celery import app as celery_app
from helpdesk.models import AuditEntry, Invitation, Membership, SupportGroup, Tenant
from helpdesk.services.members import InvitationInvalid
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, SupportGroupFactory, TicketFactory, UserFactory
from tickets import selectors as ticket_selectors
from tickets.models import Event, Ticket

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture(autouse=True)
def _memory_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def _membership(tenant, user):
    return Membership.objects.get(tenant=tenant, user=user)


def _link(message) -> str:
    return re.search(r"http://testserver(/accounts/invitation/[^\s]+/)", message.body).group(1)


def _invite(client, tenant, capture, email="pat@example.com", role="agent"):
    with capture(execute=True):
        return client.post(reverse("people", args=[tenant.slug]), {"email": email, "role": role})


# ---------------------------------------------------------------- settings home


def test_settings_home_lists_every_section_and_warns_without_a_support_address(
    tenant, admin_user, login
):
    client = login(admin_user)
    page = client.get(reverse("tenant_settings", args=[tenant.slug])).content.decode()
    assert "No support address yet" in page
    for title in ("People", "Groups", "Audit log", "Mailboxes", "API keys"):
        assert f">{title}<" in page, title
    Tenant.objects.filter(pk=tenant.pk).update(support_email="help@acme.example")
    page = client.get(reverse("tenant_settings", args=[tenant.slug])).content.decode()
    assert "No support address yet" not in page


def test_every_settings_page_has_the_same_navigation(tenant, admin_user, login):
    client = login(admin_user)
    for name in ("people", "groups", "audit_log", "tenant_general", "api_keys"):
        page = client.get(reverse(name, args=[tenant.slug])).content.decode()
        assert 'aria-label="Settings"' in page, name
        assert 'aria-current="page"' in page, name
        # Hidden on a phone only on the home, which lists the sections itself.
        assert "settings-nav card is-home" not in page, name


# ---------------------------------------------------------------- invitations


def test_an_invited_person_sets_a_password_from_the_mailed_link_and_works_in_the_tenant(
    tenant, admin_user, login, client, eager, django_capture_on_commit_callbacks
):
    login(admin_user)
    response = _invite(client, tenant, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["pat@example.com"] and "Acme Support" in sent.subject
    link = _link(sent)
    client.logout()

    page = client.get(link)
    assert b"Join Acme Support" in page.content
    response = client.post(
        link,
        {
            "first_name": "Pat",
            "last_name": "Lee",
            "username": "pat",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:home", args=[tenant.slug])
    assert client.get(reverse("tickets:queue", args=[tenant.slug, "mine"])).status_code == 200
    member = Membership.objects.get(tenant=tenant, user__username="pat")
    assert member.role == "agent" and member.user.email == "pat@example.com"

    # The link works once.
    client.logout()
    again = client.get(link)
    assert again.status_code == 410 and b"used already" in again.content


def test_a_refused_password_keeps_what_was_typed_and_uses_nothing(
    tenant, admin_user, login, client, eager, django_capture_on_commit_callbacks
):
    login(admin_user)
    _invite(client, tenant, django_capture_on_commit_callbacks)
    client.logout()
    link = _link(mail.outbox[0])
    response = client.post(
        link, {"username": "pat", "password1": "short", "password2": "short", "first_name": "Pat"}
    )
    assert response.status_code == 200
    assert b"too short" in response.content and b'value="Pat"' in response.content
    with tenant_context(tenant):
        assert Invitation.objects.get().accepted_at is None


def test_a_user_of_another_tenant_accepts_after_signing_in(
    tenant, other_tenant, admin_user, login, client, eager, django_capture_on_commit_callbacks
):
    elsewhere = MembershipFactory(tenant=other_tenant, user__email="sam@example.com").user
    login(admin_user)
    _invite(client, tenant, django_capture_on_commit_callbacks, email="Sam@Example.com")
    link = _link(mail.outbox[0])
    client.logout()
    page = client.get(link)
    assert b"Sign in to accept" in page.content
    login(elsewhere)
    assert client.post(link).status_code == 302
    assert _membership(tenant, elsewhere).role == "agent"
    assert _membership(other_tenant, elsewhere).is_active  # still in their own


def test_an_expired_or_withdrawn_or_forged_link_is_refused(tenant, admin_user, client):
    with tenant_context(tenant):
        invitation = services.invitation_create(
            actor=admin_user, email="x@example.com", role="agent", accept_url_for=lambda t: t
        )
        token = services.members.invitation_token(invitation)
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    link = reverse("invitation_accept", args=[token])
    assert b"expired" in client.get(link).content
    assert client.get(link[:-3] + "xx/").status_code == 410
    with tenant_context(tenant):
        Invitation.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() + timedelta(days=1)
        )
        services.invitation_revoke(actor=admin_user, invitation=invitation)
    assert b"withdrawn" in client.get(link).content


def test_inviting_a_current_member_is_refused(tenant, admin_user, agent):
    agent.email = "agent@example.com"
    agent.save()
    with tenant_context(tenant), pytest.raises(ValidationError, match="already a member"):
        services.invitation_create(
            actor=admin_user, email="AGENT@example.com", role="agent", accept_url_for=str
        )


# ---------------------------------------------------------------- roles, deactivation


def test_the_last_admin_can_be_neither_demoted_nor_deactivated(tenant, admin_user):
    with tenant_context(tenant):
        mine = _membership(tenant, admin_user)
        with pytest.raises(ValidationError, match="last admin"):
            services.member_change_role(actor=admin_user, membership=mine, role="agent")
        with pytest.raises(ValidationError, match="last admin"):
            services.member_deactivate(actor=admin_user, membership=mine)
        # With a second admin, the first may step down.
        second = MembershipFactory(tenant=tenant, role="admin")
        services.member_change_role(actor=admin_user, membership=mine, role="manager")
        assert _membership(tenant, admin_user).role == "manager"
        with pytest.raises(ValidationError, match="last admin"):
            services.member_deactivate(actor=second.user, membership=second)


def test_a_lower_role_cannot_change_roles(tenant, agent, admin_user):
    with tenant_context(tenant), pytest.raises(PermissionDenied):
        services.member_change_role(
            actor=agent, membership=_membership(tenant, agent), role="admin"
        )


def test_deactivating_unassigns_open_tickets_with_an_event_and_locks_them_out(
    tenant, admin_user, agent, login, client
):
    with tenant_context(tenant):
        open_ticket = TicketFactory(assignee=agent)
        solved = TicketFactory(assignee=agent)
        solved.status = Ticket.Status.RESOLVED
        solved.save(update_fields=["status"])
    login(admin_user)
    member = _membership(tenant, agent)
    response = client.post(reverse("member_deactivate", args=[tenant.slug, member.pk]))
    assert response.status_code == 302
    with tenant_context(tenant):
        open_ticket.refresh_from_db()
        solved.refresh_from_db()
        assert open_ticket.assignee is None
        assert solved.assignee == agent  # history kept
        event = Event.objects.filter(ticket=open_ticket, field="assignee").latest("pk")
        assert event.actor_system == "members" and "deactivated" in event.reason
        assert agent.pk not in [
            pk for pk, _ in ticket_selectors.tenant_choices(user=admin_user).agents
        ]
    client.logout()
    login(agent)
    assert client.get(reverse("tickets:queue", args=[tenant.slug, "mine"])).status_code == 404

    client.logout()
    login(admin_user)
    client.post(reverse("member_reactivate", args=[tenant.slug, member.pk]))
    client.logout()
    login(agent)
    assert client.get(reverse("tickets:queue", args=[tenant.slug, "mine"])).status_code == 200


def test_the_people_page_shows_role_and_status(tenant, admin_user, agent, login):
    client = login(admin_user)
    member = _membership(tenant, agent)
    client.post(reverse("member_role", args=[tenant.slug, member.pk]), {"role": "dispatcher"})
    assert _membership(tenant, agent).role == "dispatcher"
    page = client.get(reverse("people", args=[tenant.slug])).content.decode()
    assert agent.username in page and "Active" in page
    own = _membership(tenant, admin_user)
    response = client.post(
        reverse("member_role", args=[tenant.slug, own.pk]), {"role": "agent"}, follow=True
    )
    assert "last admin" in response.content.decode()


# ---------------------------------------------------------------- groups


def test_groups_are_made_renamed_archived_and_leave_the_choice_lists(
    tenant, admin_user, agent, login
):
    client = login(admin_user)
    response = client.post(reverse("groups", args=[tenant.slug]), {"name": "Hardware"})
    with tenant_context(tenant):
        group = SupportGroup.objects.get(name="Hardware")
    assert response["Location"] == reverse("group_edit", args=[tenant.slug, group.pk])
    duplicate = client.post(reverse("groups", args=[tenant.slug]), {"name": "Hardware"})
    assert "already" in duplicate.content.decode()
    client.post(reverse("group_edit", args=[tenant.slug, group.pk]), {"name": "Devices"})
    client.post(reverse("group_members", args=[tenant.slug, group.pk]), {"user": agent.pk})
    with tenant_context(tenant):
        group.refresh_from_db()
        assert group.name == "Devices"
        assert list(group.members.values_list("user_id", flat=True)) == [agent.pk]
        assert (group.pk, "Devices") in ticket_selectors.tenant_choices(user=agent).groups
    new_ticket = client.get(reverse("tickets:new", args=[tenant.slug])).content.decode()
    assert ">Devices</option>" in new_ticket

    client.post(reverse("group_archive", args=[tenant.slug, group.pk]), {"archived": "1"})
    with tenant_context(tenant):
        assert ticket_selectors.tenant_choices(user=agent).groups == []
    new_ticket = client.get(reverse("tickets:new", args=[tenant.slug])).content.decode()
    assert ">Devices</option>" not in new_ticket
    client.post(reverse("group_members", args=[tenant.slug, group.pk]), {"remove": agent.pk})
    with tenant_context(tenant):
        assert not group.members.exists()


# ---------------------------------------------------------------- tenant settings


def test_time_zone_is_chosen_from_the_iana_list(tenant, admin_user, login):
    client = login(admin_user)
    url = reverse("tenant_general", args=[tenant.slug])
    page = client.get(url).content.decode()
    assert '<option value="Asia/Kolkata"' in page and "data-filters" in page
    data = {"name": "Acme", "ticket_prefix": "ACME", "brand_color": "#112233"}
    refused = client.post(url, {**data, "time_zone": "Mars/Olympus"})
    assert refused.status_code == 200 and "valid choice" in refused.content.decode()
    assert 'value="#112233"' in refused.content.decode()  # nothing typed is lost
    client.post(url, {**data, "time_zone": "Asia/Kolkata", "support_email": "help@acme.example"})
    tenant.refresh_from_db()
    assert (tenant.time_zone, tenant.support_email) == ("Asia/Kolkata", "help@acme.example")


def test_a_logo_must_be_a_small_image_and_is_served_safely(tenant, admin_user, agent, login):
    client = login(admin_user)
    url = reverse("tenant_logo_upload", args=[tenant.slug])
    svg = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", "image/png")
    assert "must be a PNG" in client.post(url, {"logo": svg}).content.decode()
    big = SimpleUploadedFile("logo.png", PNG + b"0" * 600_000, "image/png")
    assert "at most 512 KB" in client.post(url, {"logo": big}).content.decode()
    client.post(url, {"logo": SimpleUploadedFile("x.svg", PNG, "image/svg+xml")})
    client.logout()
    response = login(agent).get(reverse("tenant_logo", args=[tenant.slug]))
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PNG


# ---------------------------------------------------------------- audit log


def test_settings_changes_are_in_the_audit_log_with_before_and_after(tenant, admin_user, login):
    with tenant_context(tenant):
        services.tenant_update_settings(tenant=tenant, actor=admin_user, time_zone="Asia/Tokyo")
        group = services.group_create(actor=admin_user, name="Billing")
        services.group_update(actor=admin_user, group=group, name="Invoices")
        entry = AuditEntry.objects.get(action="tenant.update")
        assert (entry.before, entry.after) == (
            {"time_zone": "Europe/Berlin"},
            {"time_zone": "Asia/Tokyo"},
        )
        # Kept when the group and the person are gone.
        SupportGroup.objects.filter(pk=group.pk).delete()
    admin_name = admin_user.get_full_name()
    page = login(admin_user).get(reverse("audit_log", args=[tenant.slug])).content.decode()
    assert "Renamed “Billing” to “Invoices”" in page and "Asia/Tokyo" in page
    with tenant_context(tenant):
        # Each entry names its actor in words as well, for when the user is gone.
        assert set(AuditEntry.objects.values_list("actor_name", flat=True)) == {admin_name}
    assert admin_name in page


def test_the_audit_log_filters_by_person_and_area_and_pages_by_keyset(tenant, admin_user):
    other = MembershipFactory(tenant=tenant, role="admin").user
    with tenant_context(tenant):
        for i in range(5):
            services.group_create(actor=admin_user, name=f"Team {i}")
        services.tenant_update_settings(tenant=tenant, actor=other, name="Acme Help")
        assert [e.action for e in selectors.audit_page(person=other.pk).entries] == [
            "tenant.update"
        ]
        assert len(selectors.audit_page(area="group").entries) == 5
        first = selectors.audit_page(limit=4)
        rest = selectors.audit_page(limit=4, before=first.next_before)
        assert len(first.entries) == 4 and len(rest.entries) == 2 and rest.next_before is None
        seen = [e.pk for e in first.entries + rest.entries]
        assert seen == sorted(seen, reverse=True) and len(set(seen)) == 6


def test_audit_log_of_another_tenant_is_not_shown(tenant, other_tenant, admin_user, outsider):
    with tenant_context(other_tenant):
        SupportGroupFactory(name="Secret")
        services.group_create(actor=outsider, name="Globex team")
    with tenant_context(tenant):
        assert selectors.audit_page().entries == []


def test_a_new_user_without_an_invitation_cannot_join(tenant, client):
    user = UserFactory()
    with tenant_context(tenant), pytest.raises(InvitationInvalid):
        services.members.invitation_get_usable(12345)
    assert not Membership.objects.filter(user=user).exists()


def test_api_keys_canned_responses_and_mailboxes_are_audited_too(tenant, admin_user):
    from tickets import services as ticket_services

    with tenant_context(tenant):
        key, _ = services.api_key_create(actor=admin_user, name="Phone", scope="read")
        services.api_key_revoke(actor=admin_user, api_key=key)
        canned = ticket_services.canned_response_save(actor=admin_user, title="Hi", body="Hello")
        ticket_services.canned_response_save(
            actor=admin_user, title="Hi", body="Hello there", canned=canned
        )
        box, _ = ticket_services.mailbox_create(
            actor=admin_user, name="Support", address="help@acme.example"
        )
        ticket_services.mailbox_update(mailbox=box, actor=admin_user, name="Help")
        actions = [e.action for e in selectors.audit_page().entries]
        assert actions == [
            "mailbox.update",
            "mailbox.create",
            "canned.save",
            "canned.create",
            "api_key.revoke",
            "api_key.create",
        ]
        changed = selectors.audit_page(area="canned").entries[0]
        assert (changed.before, changed.after) == ({"body": "Hello"}, {"body": "Hello there"})
