"""Demo data for seed_demo (registered in helpdesk.extensions.demo_seeders)."""


def sla_demo_seed(tenant, stdout) -> None:
    """Calendars, policies and tickets in every SLA state."""
