"""`field__any_of=[...]`: membership in a list sent as one array parameter on PostgreSQL
(`= ANY(%s)`) instead of `IN (%s, %s, …)`, whose thousands of placeholders the driver parses
again for every statement (the night's chunks ask for 500 ids at a time). Elsewhere, `IN`."""

from django.db.models import Field, ForeignObject, Lookup

from core.sql import array_param


@Field.register_lookup
@ForeignObject.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", [*lhs_params, array_param(values)]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
