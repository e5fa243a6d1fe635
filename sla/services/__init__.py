"""SLA writes: timers (recompute), alerts (the sweep), settings (calendars, policies)."""
