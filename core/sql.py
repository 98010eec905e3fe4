"""Set-based writes the ORM makes slow."""

from django.db import connection


def update_rows(model, objects: list, fields: list[str]) -> None:
    """Write `fields` of many rows in one statement. On PostgreSQL `UPDATE … FROM (VALUES …)`,
    which costs a fraction of `bulk_update`'s CASE WHEN per field; elsewhere `bulk_update`."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields)
        return
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name) for name in fields]
    casts = [column.db_type(connection) for column in columns]
    row = "(%s, " + ", ".join("%s" for _ in columns) + ")"
    values, params = [], []
    for obj in objects:
        values.append(row)
        params.append(obj.pk)
        params.extend(column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns)
    assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}::{cast}" for c, cast in zip(columns, casts, strict=True))
    names = ", ".join(["pk", *(quote(c.column) for c in columns)])
    table = quote(model._meta.db_table)
    sql = f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join(values)}) AS v({names}) WHERE {table}.{quote(model._meta.pk.column)} = v.pk"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
