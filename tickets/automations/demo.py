"""What `seed_demo` shows of automations and webhooks (helpdesk.extensions.demo_seeders)."""

from helpdesk.models import Membership

from ..models import AutomationRule, Webhook
from ..webhooks import sender
from .services import automation_rule_create

DEMO_RULES = (
    {"name": "Close solved tickets after 3 days", "kind": "close_resolved", "wait": 3},
    {
        "name": "Nudge quiet customers",
        "kind": "pending_reminder",
        "wait": 3,
        "then_wait": 4,
    },
    {"name": "Idle for a working day", "kind": "idle_assignee", "wait": 8},
)


def seed_automations_and_webhooks(tenant, stdout) -> None:
    """Three rules, and an example webhook left off (it would post to nowhere)."""
    admin = (
        Membership.objects.filter(tenant=tenant, role=Membership.Role.ADMIN)
        .select_related("user")
        .first()
    )
    if admin is None:
        return
    for rule in DEMO_RULES:
        if not AutomationRule.objects.filter(name=rule["name"]).exists():
            automation_rule_create(actor=admin.user, **rule)
    if not Webhook.objects.exists():
        # Written directly, switched off: the example URL is not looked up
        # (the demo may run offline) and nothing is posted to it.
        webhook = Webhook(
            tenant=tenant,
            name="Team chat (example)",
            url="https://chat.example.com/hooks/helpdesk",
            format=Webhook.Format.SLACK,
            events=[Webhook.EventName.CREATED, Webhook.EventName.CUSTOMER_REPLIED],
            is_active=False,
        )
        webhook.secret = sender.new_secret()
        webhook.save()
    stdout.write(f"  {tenant.slug}: automations and an example webhook under Settings")
