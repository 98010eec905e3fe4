"""The one exception handler of the API: every error in the shape API.md gives."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import RuleRefused
from core.parsers import BodyTooLarge, body_limit


class Metadata(SimpleMetadata):
    """OPTIONS: the view's name, description and formats. Not its fields: our views take a
    serializer per method, and the schema (/api/schema/) says what each one takes."""

    def determine_metadata(self, request, view):
        metadata = super().determine_metadata(request, view)
        metadata.pop("actions", None)
        return metadata

    def determine_actions(self, request, view):
        return {}


def exception_handler(exc, context):
    if isinstance(exc, RuleRefused):
        # The rule's sentence in the request's language (RuleRefused.sentence).
        response = Response({"code": exc.code, "detail": exc.sentence()}, status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    if isinstance(exc, DjangoValidationError):
        # Services refuse bad input with Django's ValidationError; the API shows it field by field.
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge(body_limit() or 0)
    elif isinstance(exc, SuspiciousOperation):  # too many form fields, a malformed multipart body
        exc = exceptions.ParseError(str(exc) or "The request is malformed.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        # Field by field (`{"email": ["..."]}`); a bare list becomes non_field_errors.
        if not isinstance(response.data, dict):
            response.data = {"non_field_errors": response.data}
        return response
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {"code": codes if isinstance(codes, str) else "error", "detail": str(exc.detail)}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
    return response
