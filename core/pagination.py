from dataclasses import dataclass

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Q
from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination for every list: constant cost at any depth, `{results, next, previous}`."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200


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
