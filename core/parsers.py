"""The API's parsers and content negotiation: the edge where a body is read (issue 17, item 1).
Apart from core.api because DRF reads these settings while its APIView class is being defined:
this module imports no DRF view."""

import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from rest_framework import exceptions, negotiation, parsers, status

from core.validation import BIGINT_MESSAGE, check_payload, in_bigint, text_problem


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than {limit:,} bytes.")


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _read_limited(stream) -> bytes:
    """The whole body, or 413 once it passes the limit (DRF's parsers read the stream past
    Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check, which guards `request.body` only)."""
    limit = body_limit()
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise BodyTooLarge(limit)
    return body


def _checked(data):
    """Parsed data with nothing a field may not take: no NUL or unpaired surrogate in any text
    (keys too), no integer past bigint, no deeper than MAX_JSON_DEPTH; else 400 naming where."""
    try:
        return check_payload(data)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(exc.message_dict) from None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded: the body's size (413), its depth, its text and its integers
    (400), so that what a serializer or a service reads next can be stored."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        body = _read_limited(stream)
        try:
            text = body.decode(encoding)
            data = json.loads(text, parse_constant=json_strict_constant if self.strict else None)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # the C decoder's own guard, deeper than any checked limit
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        return _checked(data)


def json_strict_constant(value):
    raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")


_DIGITS = re.compile(r"\s*[+-]?\d{19,}\s*")


def _check_form(data):
    """A form body's fields: text as in JSON; a field of digits only holds a bigint."""
    for key, values in data.lists():
        if text_problem(key):
            raise exceptions.ValidationError({"non_field_errors": [text_problem(key)]})
        for value in values:
            if not isinstance(value, str):
                continue  # an uploaded file: its reader checks it
            problem = text_problem(value)
            if problem is None and _DIGITS.fullmatch(value):
                try:
                    problem = None if in_bigint(int(value)) else str(BIGINT_MESSAGE)
                except ValueError:  # past Python's own limit on digits
                    problem = str(BIGINT_MESSAGE)
            if problem:
                raise exceptions.ValidationError({key: [problem]})
    return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        return _check_form(QueryDict(_read_limited(stream), encoding=encoding))


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data)
        return parsed


class JsonFallbackNegotiation(negotiation.DefaultContentNegotiation):
    """The API speaks JSON only (no browsable pages): a caller that asks for something else, a
    browser's `Accept: text/html` say, gets the JSON rather than a 406 it cannot read."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type
