"""Signals of the core app, for what a higher app must do when the core
changes. Each is sent inside the service's transaction, with the current
tenant active, so a receiver's writes commit or roll back with it.

member_deactivated(sender=Membership, membership, actor)
    A member was deactivated (helpdesk.services.members.member_deactivate).
    tickets unassigns their open tickets through its ticket service, one
    event on each ticket.
"""

from django.dispatch import Signal

member_deactivated = Signal()
