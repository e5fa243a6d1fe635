"""What the ticket models share: the text-search configuration."""

# Text-search configuration of every search column and query. 'simple' (no
# stemming, no stop words) rather than 'english': tenants write in many
# languages, and what agents look up most (names, email addresses, error
# codes, order numbers) must match as typed, not as an English stem.
SEARCH_CONFIG = "simple"
