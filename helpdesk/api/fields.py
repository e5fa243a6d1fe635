"""Input fields that accept exactly what the schema says, and nothing costlier.

DRF's own fields are lenient in ways the OpenAPI schema cannot state: a
CharField turns 5 into "5" and trims spaces after its length was counted
by the client, an IntegerField reads "٣" as 3, and a ListField validates
every item before it counts them. These do not.
"""

from rest_framework import serializers

from helpdesk.parsing import ID_MAX, parse_id

# The largest value a PositiveIntegerField (Postgres integer) holds.
INT32_MAX = 2**31 - 1


class IdField(serializers.IntegerField):
    """A number: a JSON integer in a body, ASCII digits in a query string."""

    default_error_messages = {"invalid": "A whole number is required (digits 0-9 only)."}

    def __init__(self, *, in_query: bool = False, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        self.in_query = in_query
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if self.in_query:
            value = parse_id(data) if isinstance(data, str) else None
        else:
            value = parse_id(data) if isinstance(data, int) else None
        if value is None:
            self.fail("invalid")
        return value


class TextField(serializers.CharField):
    """A string, taken as sent: no numbers turned into text, and no trimming
    (the services trim what they store), so a length limit means what it says."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class EmailAddressField(serializers.EmailField):
    """An email address as a string, untrimmed (see TextField)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class BoundedListField(serializers.ListField):
    """A list whose length is checked before any item is looked at, so a
    list of 200,000 items costs one comparison, not 200,000 validations."""

    def to_internal_value(self, data):
        if self.max_length is not None and isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)
