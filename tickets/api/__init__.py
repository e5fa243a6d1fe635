"""The JSON API for chat, phone and other systems: /api/v1/<tenant>/...

Authenticated by per-tenant API keys (helpdesk.models.ApiKey); every write
goes through tickets.services, as the web pages' do.
"""
