"""`{{ cents|dollars }}`: money is kept in integer cents and shown in dollars (DESIGN.md)."""

from django import template

from core.money import dollars as as_dollars

register = template.Library()


@register.filter
def dollars(cents) -> str:
    return as_dollars(int(cents or 0))
