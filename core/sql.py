"""Set-based writes the ORM makes slow, and arrays sent as one parameter."""

import datetime

from django.db import connection, models

_PLAIN = {int, datetime.date, type(None)}  # exactly these: not bool (an int), not datetime (a date)


def array_param(values: list) -> list | str:
    """An array parameter for `%s::type[]` on PostgreSQL. Ids and dates, the common case, go as
    the array's text (`{1,2,3}`), made at C speed: the driver would otherwise adapt and quote them
    one by one, thousands per statement; text the same, each element quoted (`{"a","b\\"c"}`).
    Anything else (moments, mixed types) as the list, for the driver."""
    types = set(map(type, values))
    if types <= _PLAIN:
        return "{" + ",".join(map(str, values) if None not in values else ("NULL" if v is None else str(v) for v in values)) + "}"
    if types == {str}:  # each element quoted, its backslashes and quotes escaped: the array syntax's rules
        return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
    return values


def _as_is(field: models.Field) -> bool:
    """Fields whose Python value the driver takes as it is (Django's preparation, a few calls per
    value, changes nothing for them on PostgreSQL); a moment still goes through it (time zones)."""
    return isinstance(field, models.IntegerField | models.CharField | models.DateField | models.ForeignKey | models.BooleanField) and not isinstance(
        field, models.DateTimeField)


def update_rows(model, objects: list, fields: list[str]) -> None:
    """Write `fields` of many rows (model objects, or anything with `pk` and the fields'
    attributes) in one statement. On PostgreSQL `UPDATE … FROM unnest(…)` with
    one array per column: the statement's text is the same for any number of rows (parsed once,
    by the driver and the server), where `bulk_update`'s CASE WHEN, or a VALUES list, grows with
    every value. Elsewhere `bulk_update`."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        if not isinstance(objects[0], model):  # rows read as values (a dataclass): made objects for bulk_update
            attnames = [model._meta.get_field(name).attname for name in fields]
            objects = [model(pk=obj.pk, **{a: getattr(obj, a) for a in attnames}) for obj in objects]
        model.objects.bulk_update(objects, fields)
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    columns = [model._meta.get_field(name) for name in fields]
    arrays = [[obj.pk for obj in objects]]
    arrays += [[getattr(obj, column.attname) for obj in objects] if _as_is(column) else
               [column.get_db_prep_save(getattr(obj, column.attname), connection) for obj in objects] for column in columns]
    casts = [f"%s::{column.db_type(connection)}[]" for column in (pk, *columns)]
    names = ", ".join(quote(c.column) for c in (pk, *columns))
    assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns)
    table = quote(model._meta.db_table)
    # The second condition lets the planner find the rows by their index, not by scanning the table.
    sql = (f"UPDATE {table} SET {assignments} FROM unnest({', '.join(casts)}) AS v({names}) "  # noqa: S608 (names from the model)
           f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)} AND {table}.{quote(pk.column)} = ANY({casts[0]})")
    params = [array_param(values) for values in arrays]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, params[0]])
