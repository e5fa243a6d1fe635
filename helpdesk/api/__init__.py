"""What every JSON API of the app shares: API-key authentication, the
per-key rate limit, body parsing with limits, strict number fields, one
error shape, and the base view that runs a request inside its tenant. Each
app's API (tickets/api/) builds on it."""
