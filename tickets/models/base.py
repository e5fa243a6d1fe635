"""What the ticket models share: the text-search columns."""

from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models

# Text-search configuration of every search column and query. 'simple' (no
# stemming, no stop words) rather than 'english': tenants write in many
# languages, and what agents look up most (names, email addresses, error
# codes, order numbers) must match as typed, not as an English stem.
SEARCH_CONFIG = "simple"


def search_vector_field(*expressions, weight: str) -> models.GeneratedField:
    """A tsvector column Postgres computes from the row itself, so every write
    (services, bulk loads, raw SQL) keeps it current with no code to forget."""
    return models.GeneratedField(
        expression=SearchVector(*expressions, config=SEARCH_CONFIG, weight=weight),
        output_field=SearchVectorField(),
        db_persist=True,
    )
