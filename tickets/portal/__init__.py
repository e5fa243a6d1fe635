"""The customer portal: a ticket opened from the link in a mail, sign-in by
emailed link, replies, "this is solved", reopening and satisfaction ratings.

Every page is public (no agent login) and finds its tenant through
`helpdesk.tenancy.public_tenant_view` before any token is looked up, so a
token is only ever compared inside its tenant's context.
"""
