"""Set-based writes the ORM makes slow."""

from django.db import connection


def update_rows(model, objects: list, fields: list[str]) -> None:
    """Write `fields` of many rows in one statement. On PostgreSQL `UPDATE … FROM unnest(…)` with
    one array per column: the statement's text is the same for any number of rows (parsed once,
    by the driver and the server), where `bulk_update`'s CASE WHEN, or a VALUES list, grows with
    every value. Elsewhere `bulk_update`."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields)
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    columns = [model._meta.get_field(name) for name in fields]
    arrays = [[obj.pk for obj in objects]]
    arrays += [[column.get_db_prep_save(getattr(obj, column.attname), connection) for obj in objects] for column in columns]
    casts = [f"%s::{column.db_type(connection)}[]" for column in (pk, *columns)]
    names = ", ".join(quote(c.column) for c in (pk, *columns))
    assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns)
    table = quote(model._meta.db_table)
    # The second condition lets the planner find the rows by their index, not by scanning the table.
    sql = (f"UPDATE {table} SET {assignments} FROM unnest({', '.join(casts)}) AS v({names}) "  # noqa: S608 (names from the model)
           f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)} AND {table}.{quote(pk.column)} = ANY({casts[0]})")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*arrays, arrays[0]])
