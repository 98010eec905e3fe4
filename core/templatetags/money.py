"""`{{ cents|dollars }}`: money is kept in integer cents and shown in dollars (DESIGN.md), as the active language writes them."""

from django import template

from core.money import local_dollars

register = template.Library()


@register.filter
def dollars(cents) -> str:
    return local_dollars(int(cents or 0))
