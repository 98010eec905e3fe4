"""Inserting many rows at once, fast: the night's chunks write thousands of rows per step.

`insert(objects)` is `bulk_create` without its per-value compilation: the ids are reserved from the
table's own sequence first (`reserve_ids`, so rows can name each other before they exist: Django's
foreign keys are checked at commit), then the rows go in by COPY on PostgreSQL. `insert_rows(model,
rows)` the same for rows given as dicts of field values, no model objects made at all. Elsewhere (SQLite, for
development) the same ids go in through `bulk_create`. Model defaults apply as they do for
`bulk_create` (they are set when the objects are made); `save()` and signals do not run."""

import operator

from django.db import connection, models
from psycopg.types.json import Jsonb

__all__ = ["insert", "insert_rows", "reserve_ids"]


def reserve_ids(model: type[models.Model], n: int) -> list[int]:
    """`n` ids of `model`'s table that nobody else will be given, in ascending order. On
    PostgreSQL from the table's sequence (not given back on a rollback: ids may have gaps, never
    repeats). On SQLite by moving the table's AUTOINCREMENT counter, a write: the transaction holds
    the database's write lock from then on, so no one else inserts until it ends."""
    if n <= 0:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, n])
            return sorted(row[0] for row in cursor.fetchall())
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s", [n, table])
        if cursor.rowcount == 0:  # no row was ever inserted into the table
            cursor.execute(f"INSERT INTO sqlite_sequence (name, seq) SELECT %s, COALESCE(MAX({pk}), 0) + %s FROM {connection.ops.quote_name(table)}", [table, n])  # noqa: S608
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        last = cursor.fetchone()[0]
    return list(range(last - n + 1, last + 1))


def insert(objects: list[models.Model]) -> None:
    """Insert unsaved objects of one model, each given its id (objects that have one keep it)."""
    if not objects:
        return
    model = type(objects[0])
    missing = [obj for obj in objects if obj.pk is None]
    for obj, pk in zip(missing, reserve_ids(model, len(missing)), strict=True):
        obj.pk = pk
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects)
        return
    fields = model._meta.concrete_fields
    _copy(model, fields, [[obj.__dict__[f.attname] for f in fields] for obj in objects])
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias


def insert_rows(model: type[models.Model], rows: list[dict]) -> None:
    """Insert rows given as {attname: value} (e.g. `invoice_id`), the other fields at their
    defaults (a callable default is called once for the batch). A row without an `id` is given one
    by the database (`reserve_ids` first when something must name it before the insert)."""
    if not rows:
        return
    pk = model._meta.pk.attname
    with_ids = any(row.get(pk) is not None for row in rows)
    if with_ids and not all(row.get(pk) is not None for row in rows):
        raise ValueError("Either every row has its id or none does.")
    fields = [f for f in model._meta.concrete_fields if with_ids or f.attname != pk]
    keys = rows[0].keys()
    if connection.vendor == "postgresql" and all(row.keys() == keys for row in rows):
        # The common case, every row naming the same fields: each row's values taken at C speed,
        # the defaults appended.
        given, rest = [f for f in fields if f.attname in keys], [f for f in fields if f.attname not in keys]
        tail = tuple(f.get_default() for f in rest)
        take = operator.itemgetter(*[f.attname for f in given])
        _copy(model, given + rest, [(*take(row), *tail) for row in rows] if len(given) > 1 else [(take(row), *tail) for row in rows])
        return
    defaults = {f.attname: f.get_default() for f in fields if any(f.attname not in row for row in rows)}
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**{**defaults, **row}) for row in rows])
        return
    attnames = [f.attname for f in fields]
    _copy(model, fields, [[row[a] if a in row else defaults[a] for a in attnames] for row in rows])


def _copy(model: type[models.Model], fields: list[models.Field], values: list) -> None:
    """COPY rows (sequences) holding a value for each of `fields`, in their order."""
    json = [n for n, f in enumerate(fields) if isinstance(f, models.JSONField)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # The driver's errors as Django's (an IntegrityError is one whatever wrote the row).
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
        for row in values:
            if json:
                row = [Jsonb(value) if n in json and value is not None else value for n, value in enumerate(row)]  # noqa: PLW2901
            copy.write_row(row)
