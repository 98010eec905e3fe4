from django.contrib import messages
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext
from unfold.admin import ModelAdmin

from core.exceptions import RuleRefused


class ReadOnlyAdmin(ModelAdmin):
    """Staff read; nobody, superusers included, adds, changes or deletes here (append-only data)."""

    actions = None  # no bulk delete either

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def refusal(exc: Exception) -> str:
    """The sentence of a refusal for an admin message: a RuleRefused's detail, a ValidationError's
    messages, in the active language (`RuleRefused.sentence`)."""
    if isinstance(exc, RuleRefused):
        return exc.sentence()
    return " ".join(getattr(exc, "messages", [str(exc)]))


def report(modeladmin, request, done: int, verb: str, refused: list[str]) -> None:
    """An admin action's outcome: how many were done, and each refusal's sentence (`verb` is
    given translated, the sentences are already in the active language)."""
    if done:
        modeladmin.message_user(request, gettext("%(verb)s: %(count)s.") % {"verb": verb, "count": done}, messages.SUCCESS)
    for sentence in refused:
        modeladmin.message_user(request, sentence, messages.ERROR)


class CappedCountPaginator(Paginator):
    """For change lists of millions of rows: counts at most `cap` rows (a LIMITed subquery), so a
    page never waits for a full COUNT(*). Past the cap, the last page shown is the cap's."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.cap].count()
