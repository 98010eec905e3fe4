from base64 import b64decode, b64encode
from dataclasses import dataclass
from urllib import parse

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Q
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.utils.urls import replace_query_param


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination for every list: constant cost at any depth, `{results, next, previous}`.

    The cursor is signed, for its list's path and ordering (issue 17, item 1): its position goes
    into the query as it is, so a crafted one ("p=abc" on a list by id) would be a 500. One we did
    not make, or made for another list, answers 404 "Invalid cursor", as DRF's own for a cursor
    it cannot decode."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200

    def _signer(self) -> signing.Signer:
        ordering = ",".join(self.ordering) if isinstance(self.ordering, list | tuple) else str(self.ordering)
        return signing.Signer(salt=f"api-cursor:{self.request.path}:{ordering}")

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(self._signer().unsign(encoded).encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(querystring, keep_blank_values=True)
            offset = pagination._positive_int(tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff)
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
        except (signing.BadSignature, TypeError, ValueError):
            raise NotFound(self.invalid_cursor_message) from None
        return pagination.Cursor(offset=offset, reverse=reverse, position=position)

    def encode_cursor(self, cursor):
        tokens = {}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        encoded = b64encode(parse.urlencode(tokens, doseq=True).encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, self._signer().sign(encoded))


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None  # the query value for the next page; None on the last
    is_first: bool
    param: str


def page_of(request, queryset, *, ordering: tuple[str, ...] = ("-pk",), size: int = 20, prefix: str = "page") -> Page:
    """A dashboard list's page by keyset, as the API's cursor pagination: newest first (every
    field of `ordering` descending), constant cost at any depth, and a cursor we signed, so a
    crafted one reads as the first page instead of failing."""
    fields = [name.removeprefix("-") for name in ordering]
    if not all(name.startswith("-") for name in ordering):
        raise ValueError("page_of pages newest first: every ordering field descending.")
    rows = queryset.order_by(*ordering)
    cursor = request.GET.get(prefix)
    after = _read_cursor(cursor, queryset.model, fields, prefix) if cursor else None
    if after is not None:
        condition = Q()
        for n, name in enumerate(fields):
            step = Q(**{f"{name}__lt": after[n]})
            for earlier in range(n):
                step &= Q(**{fields[earlier]: after[earlier]})
            condition |= step
        rows = rows.filter(condition)
    found = list(rows[: size + 1])
    more = len(found) > size
    found = found[:size]
    next_cursor = signing.dumps([_plain(getattr(found[-1], name)) for name in fields], salt=f"page:{prefix}") if more and found else None
    return Page(rows=found, next_cursor=next_cursor, is_first=after is None, param=prefix)


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _read_cursor(cursor: str, model, fields: list[str], prefix: str) -> list | None:
    try:
        values = signing.loads(cursor, salt=f"page:{prefix}")
        if not isinstance(values, list) or len(values) != len(fields):
            return None
        return [model._meta.get_field("id" if name == "pk" else name).to_python(value) for name, value in zip(fields, values, strict=True)]
    except (signing.BadSignature, ValidationError, ValueError, TypeError):
        return None
