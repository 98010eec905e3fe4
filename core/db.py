"""Facts about the database connection that several apps check."""

from django.db import connection


def in_open_transaction() -> bool:
    """Whether this connection is inside a transaction of our own. The test suite's wrapping
    transaction does not count (Django marks the atomic blocks a TestCase opens)."""
    return connection.in_atomic_block and any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)
