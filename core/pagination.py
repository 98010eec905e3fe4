from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination for every list: constant cost at any depth, `{results, next, previous}`."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200
