"""Funnels (PRJ-6): what a valid one is (`spec`), their writes (`services`), and the runtime that
moves subscribers through them (`runtime`), guarded against loops (`loop_guard`)."""
