"""API errors of our own (apart from errors.py, which imports DRF's views:
the parser imports this while DRF's views are being set up)."""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self):
        super().__init__(
            f"The request body is larger than the {settings.API_MAX_BODY_BYTES:,} bytes "
            "the API reads."
        )
