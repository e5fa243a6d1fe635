"""Every API error is JSON of one shape: {"errors": {"<field>": ["message", ...]}},
with "detail" for what belongs to no field (401, 403, 404, 405, 429, ...)."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.http import JsonResponse
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD_KEY = "detail"


def django_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as field -> messages."""
    if hasattr(error, "error_dict"):
        return {
            (NON_FIELD_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in error.message_dict.items()
        }
    return {NON_FIELD_KEY: error.messages}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(django_errors(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, logged as usual
    # A refused request writes nothing: not even what the view did before the
    # refusal (a contact made for a message that a closed ticket then refused).
    if connection.in_atomic_block:
        transaction.set_rollback(True)
    data = response.data
    if isinstance(data, list):
        data = {NON_FIELD_KEY: data}
    elif isinstance(data, dict) and set(data) == {"detail"} and isinstance(data["detail"], str):
        data = {NON_FIELD_KEY: [data["detail"]]}
    response.data = {"errors": data}
    return response


def not_found(request, *args, **kwargs):
    """Any other URL under /api/: a JSON 404, not the HTML page."""
    return JsonResponse({"errors": {NON_FIELD_KEY: ["Not found."]}}, status=404)
