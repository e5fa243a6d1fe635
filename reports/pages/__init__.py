"""The report pages beyond the dashboard: efficiency, quality, root causes,
load, stalls and channels. Their own facts (`models`), folded from ticket
events by a pure function (`fold`) that both the event handler and the
rebuild use, read through `selectors` only."""
