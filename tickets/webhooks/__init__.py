"""Outgoing webhooks: a tenant's ticket events posted to URLs its admins
chose, as JSON or in Slack's incoming-webhook format.

- `handlers`: a ticket event handler writes one `WebhookDelivery` per
  active webhook that asked for the event (once, whatever reruns), with the
  body fixed, and hands each to `tasks.deliver_webhook` after commit.
- `services`: the task claims a delivery (a conditional update, committed),
  posts it outside any transaction (`sender`), then records the attempt:
  delivered, retried with exponential backoff, or given up after
  WEBHOOK_MAX_ATTEMPTS. The tenant's sweep hands over deliveries whose
  task was lost. At least once: a receiver drops repeats by the
  X-Helpdesk-Delivery header.
- `sender`: signs (HMAC-SHA256 over timestamp and body) and posts with a
  timeout, to an address `helpdesk.netguard` resolved and allowed at send
  time (the connection goes to exactly that address: no rebinding).
- `payloads`: what an event looks like to a receiver.
"""
