"""Time-based automations: each tenant's rules, run by a beat sweep.

- close resolved tickets N days after they were resolved;
- remind the customer of a pending ticket untouched for N days, then
  resolve it M days after the reminder if still nothing happened;
- remind the assignee of a new or open ticket untouched for N hours.

Every rule has conditions (group, priority, category) and can be turned
off. `engine` finds each rule's tickets with index-backed queries, locks
each ticket and checks it again, and inserts an `AutomationRun` row for
(rule, ticket, step, cycle) ON CONFLICT DO NOTHING in the transaction that
acts: a step is taken once per cycle even when two runs overlap. It acts
through the ticket services (`ticket_system_update`, `ticket_system_reply`)
as the system "automations", with the rule's name in the timeline's reason.

Beat reads the control plane only (helpdesk.tenant_work, kind
"automations"): a tenant is marked when an enabled rule is saved, and its
run sets the next time (AUTOMATIONS_SWEEP_SECONDS later) while it has
enabled rules.
"""
