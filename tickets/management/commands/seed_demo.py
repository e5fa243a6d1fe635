"""Demo tenants with users for every role and a few months of realistic tickets.

Idempotent: users, groups and categories are matched by name, and a tenant
that already has tickets gets no more.
"""

import random
from datetime import timedelta
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from helpdesk.extensions import demo_seeders
from helpdesk.models import Membership, SupportGroup, SupportGroupMember, Tenant
from helpdesk.tenancy import tenant_context
from tickets import services
from tickets.models import CannedResponse, Category, Message, Organization, Ticket

DEMO_PASSWORD = "demo-pass-2026"
TICKETS_PER_TENANT = 150

TENANTS = [
    {
        "slug": "acme",
        "name": "Acme Support",
        "ticket_prefix": "ACME",
        "time_zone": "Europe/Berlin",
        "brand_color": "#2557d6",
        "users": [
            ("acme-admin", "Ada", "Admin", "admin"),
            ("acme-manager", "Max", "Manager", "manager"),
            ("acme-dispatcher", "Dana", "Dispatcher", "dispatcher"),
            ("acme-agent", "Alex", "Agent", "agent"),
            ("acme-agent2", "Sam", "Rivera", "agent"),
        ],
        "groups": ["First line", "Billing", "Technical"],
        "organizations": [("Initech", ["initech.example"]), ("Umbrella", ["umbrella.example"])],
    },
    {
        "slug": "globex",
        "name": "Globex Service Desk",
        "ticket_prefix": "GLX",
        "time_zone": "America/New_York",
        "brand_color": "#0e7c66",
        "users": [
            ("globex-admin", "Gale", "Admin", "admin"),
            ("globex-dispatcher", "Drew", "Dispatcher", "dispatcher"),
            ("globex-agent", "Gus", "Agent", "agent"),
        ],
        "groups": ["Service desk", "Field engineers"],
        "organizations": [("Hooli", ["hooli.example"]), ("Vandelay", ["vandelay.example"])],
    },
]
# Someone who works for both, to show the tenant switcher.
SHARED_USER = ("both-agent", "Bo", "Both", "agent")

CATEGORIES = {
    "Account": ["Login", "Password reset"],
    "Billing": ["Invoices", "Refunds"],
    "Product": ["Bug", "Feature request"],
}
SUBJECTS = [
    "Cannot log in since this morning",
    "Invoice {n} shows the wrong VAT number",
    "Refund for a double charge",
    "Export to CSV times out",
    "How do I add a second admin?",
    "Password reset email never arrives",
    "App crashes when uploading a photo",
    "Please change our billing address",
    "Feature request: dark mode",
    "Sync with calendar stopped working",
    "Where can I download last year's invoices?",
    "Error 500 on the reports page",
]
FIRST_NAMES = [
    "Mia",
    "Noah",
    "Lena",
    "Omar",
    "Ivy",
    "Ravi",
    "Chen",
    "Ana",
    "Tom",
    "Zoe",
    "Kai",
    "Eva",
]
LAST_NAMES = ["Novak", "Okafor", "Schmidt", "Tanaka", "Silva", "Haddad", "Berg", "Quinn", "Moreau"]
REPLIES = [
    "Thanks for reaching out. Could you send a screenshot of the error?",
    "I have reproduced this and passed it to our engineers.",
    "This should be fixed now. Could you try again and let us know?",
    "I have issued the refund; it shows on your statement in 3-5 days.",
]
CUSTOMER_FOLLOW_UPS = [
    "Here is the screenshot you asked for.",
    "Still happening for me, unfortunately.",
    "That worked, thank you!",
]
CANNED = [
    (
        "Ask for a screenshot",
        "Hi {requester_name},\n\nThanks for getting in touch. Could you send a screenshot "
        "of what you see? It helps us get to the bottom of {ticket_number} quickly.\n\n"
        "Best,\n{agent_name}",
    ),
    (
        "Fixed, please confirm",
        "Hi {requester_name},\n\nWe have rolled out a fix. Could you try again and tell us "
        "if it works for you?\n\n{agent_name}",
    ),
]
NOTES = ["Customer is on the enterprise plan.", "Same issue as last week, see the other ticket."]


def _give_demo_password(user, *, created: bool) -> None:
    """A new demo user gets the demo password. So does one left with an
    empty password by an earlier seed: Django counts "" as a usable password
    (has_usable_password() is True) that matches nothing, so nobody could sign
    in. A password someone set since is kept."""
    if created or not user.password:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])


class Command(BaseCommand):
    help = "Create the demo tenants, users and tickets (safe to run again)."

    def handle(self, *args, **options):
        rng = random.Random(2026)
        User = get_user_model()
        shared, created = User.objects.get_or_create(
            username=SHARED_USER[0],
            defaults={"first_name": SHARED_USER[1], "last_name": SHARED_USER[2]},
        )
        _give_demo_password(shared, created=created)
        logins = [(SHARED_USER[0], "agent in every demo tenant")]
        for spec in TENANTS:
            tenant, _ = Tenant.objects.get_or_create(
                slug=spec["slug"],
                defaults={
                    key: spec[key] for key in ("name", "ticket_prefix", "time_zone", "brand_color")
                },
            )
            agents = []
            for username, first, last, role in spec["users"]:
                user, created = User.objects.get_or_create(
                    username=username, defaults={"first_name": first, "last_name": last}
                )
                _give_demo_password(user, created=created)
                Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": role})
                agents.append(user)
                logins.append((username, f"{role} at {tenant.name}"))
            Membership.objects.get_or_create(
                tenant=tenant, user=shared, defaults={"role": Membership.Role.AGENT}
            )
            agents.append(shared)
            self._seed_tenant(tenant, spec, agents, rng)
            for seeder in demo_seeders:
                with tenant_context(tenant):
                    seeder.seed(tenant, self.stdout)

        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, what in logins:
            self.stdout.write(f"  {username:<18} {what}")

    def _seed_tenant(self, tenant, spec, agents, rng):
        with tenant_context(tenant):
            groups = []
            for name in spec["groups"]:
                group, _ = SupportGroup.objects.get_or_create(tenant=tenant, name=name)
                groups.append(group)
                for agent in agents:
                    SupportGroupMember.objects.get_or_create(tenant=tenant, group=group, user=agent)
            categories = []
            for top, subs in CATEGORIES.items():
                parent, _ = Category.objects.get_or_create(tenant=tenant, name=top, parent=None)
                categories.append(parent)
                for sub in subs:
                    child, _ = Category.objects.get_or_create(
                        tenant=tenant, name=sub, parent=parent
                    )
                    categories.append(child)
            for title, body in CANNED:
                CannedResponse.objects.get_or_create(
                    tenant=tenant, title=title, defaults={"body": body}
                )
            for name, domains in spec["organizations"]:
                Organization.objects.get_or_create(
                    tenant=tenant, name=name, defaults={"email_domains": domains}
                )
            if Ticket.objects.exists():
                self.stdout.write(f"{tenant.name}: tickets already there, not adding more")
                return
        domains = [d for _, ds in spec["organizations"] for d in ds] + [
            "example.com",
            "mail.example",
        ]
        contacts = []
        with tenant_context(tenant):
            for i in range(40):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                email = f"{first}.{last}{i}@{rng.choice(domains)}".lower()
                contacts.append(services.contact_get_or_create(email=email, name=f"{first} {last}"))
        now = timezone.now()
        # Oldest first, so ticket numbers follow the order tickets came in.
        openings = sorted(
            now - timedelta(days=rng.uniform(0, 60)) for _ in range(TICKETS_PER_TENANT)
        )
        for n, opened in enumerate(openings):
            with tenant_context(tenant), transaction.atomic():
                self._seed_ticket(rng, opened, now, contacts, agents, groups, categories, n)
        self.stdout.write(f"{tenant.name}: {TICKETS_PER_TENANT} tickets added")

    def _seed_ticket(self, rng, opened, now, contacts, agents, groups, categories, n):
        # The services stamp their writes with timezone.now(); the demo moves
        # that clock through the ticket's life so the history spans 60 days.
        clock = [opened]

        def tick(hours_low, hours_high):
            clock[0] = min(now, clock[0] + timedelta(hours=rng.uniform(hours_low, hours_high)))

        with mock.patch("django.utils.timezone.now", lambda: clock[0]):
            requester = rng.choice(contacts)
            subject = rng.choice(SUBJECTS).format(n=1000 + n)
            ticket = services.ticket_create(
                requester=requester,
                subject=subject,
                body=f"Hello,\n\n{subject}. Could you help?\n\nThanks,\n{requester.name}",
                channel=rng.choice(Ticket.Channel.values),
                priority=rng.choices(Ticket.Priority.values, weights=[2, 5, 2, 1])[0],
                type=rng.choice(Ticket.Type.values),
                category=rng.choice([None, *categories]),
                tags=rng.sample(
                    ["vip", "mobile", "sso", "invoice", "outage", "eu"], rng.randint(0, 2)
                ),
                group=rng.choice(groups),
            )
            stage = rng.random()
            if stage < 0.15:
                return  # still new and unassigned
            agent = rng.choice(agents)
            tick(0.1, 4)
            ticket = services.ticket_assign(
                ticket=ticket, actor=agent, assignee=agent, expected_version=None
            )
            tick(0.1, 6)
            services.message_add(
                ticket=ticket, kind=Message.Kind.REPLY, body=rng.choice(REPLIES), author_user=agent,
                status_after=Ticket.Status.PENDING if stage > 0.3 else None,
            )  # fmt: skip
            if rng.random() < 0.3:
                tick(0.1, 2)
                services.message_add(
                    ticket=ticket, kind=Message.Kind.NOTE, body=rng.choice(NOTES), author_user=agent
                )
            if stage < 0.4:
                return  # open, being worked on
            tick(2, 48)
            services.message_add(
                ticket=ticket, kind=Message.Kind.CUSTOMER, body=rng.choice(CUSTOMER_FOLLOW_UPS),
                author_contact=requester,
            )  # fmt: skip
            if stage < 0.55:
                return  # customer answered, back to open
            tick(0.5, 24)
            final = Ticket.Status.ON_HOLD if stage < 0.62 else Ticket.Status.RESOLVED
            services.message_add(
                ticket=ticket, kind=Message.Kind.REPLY, body=rng.choice(REPLIES), author_user=agent,
                status_after=final,
            )  # fmt: skip
            if final == Ticket.Status.RESOLVED and stage > 0.8:
                tick(24, 96)
                services.ticket_change_status(
                    ticket=ticket, actor=agent, status=Ticket.Status.CLOSED, expected_version=None
                )
