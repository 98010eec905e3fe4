"""The dashboard's pages for what a project sends (MSG-1): its broadcasts under the `messages`
section, with a progress bar that htmx refreshes every 2 seconds while one runs, and its Telegram
bot under `settings` (PRJ-1). A token is taken, never shown back."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from core.admin import refusal
from core.exceptions import RuleRefused
from core.pagination import page_of
from projects import selectors
from projects.access import Level, Section
from projects.sending import bots, broadcasts
from projects.sending.forms import BotTokenForm, BroadcastForm
from projects.views import _access

ROWS = "broadcast-rows"  # the element htmx polls


@login_required
def broadcast_list(request, project_id: int):
    """The broadcasts, newest first, and the form for a new one. An htmx poll of the rows gets the
    rows alone; they stop polling once none of them runs."""
    write = request.method == "POST"
    access = _access(request, project_id, (Section.MESSAGES, Level.FULL if write else Level.VIEW), write=write)
    if access is None:
        return redirect("dashboard:project-broadcasts", project_id=project_id) if write else redirect("dashboard:projects")
    form = BroadcastForm(request.POST or None)
    if write and form.is_valid():
        try:
            broadcast = broadcasts.create_broadcast(project=access.project, actor=request.user, **form.cleaned_data)
        except (RuleRefused, ValidationError) as exc:
            form.add_error(None, refusal(exc))  # the form keeps what was typed
        else:
            if broadcast.send_at > broadcast.created_at:
                said = ngettext("The broadcast is scheduled for %(at)s UTC; %(count)s subscriber would get it now.",
                                "The broadcast is scheduled for %(at)s UTC; %(count)s subscribers would get it now.", broadcast.recipients)
            else:
                said = ngettext("The broadcast is on its way to %(count)s subscriber.", "The broadcast is on its way to %(count)s subscribers.",
                                broadcast.recipients)
            messages.success(request, said % {"count": broadcast.recipients, "at": date_format(timezone.localtime(broadcast.send_at), "DATETIME_FORMAT")})
            return redirect("dashboard:project-broadcasts", project_id=project_id)
    page = page_of(request, selectors.broadcasts_of(project=access.project), ordering=("-created_at", "-id"), size=25)
    broadcasts.counts_for(page.rows)
    context = {"project": access.project, "page": page, "form": form, "running": any(b.is_running for b in page.rows),
               "can_send": access.allows(Section.MESSAGES, Level.FULL), "rows_id": ROWS}
    if request.htmx and request.htmx.target == ROWS and not write:
        response = render(request, "dashboard/_broadcast_rows.html", context)
    else:
        context["bot"] = selectors.bot_of(project_id=access.project.pk)
        context["can_see_bot"] = access.allows(Section.SETTINGS, Level.VIEW)
        response = render(request, "dashboard/broadcasts.html", context)
    patch_vary_headers(response, ("HX-Request",))  # the rows alone and the whole page share a URL
    return response


@login_required
@require_POST
def broadcast_cancel(request, project_id: int, broadcast_id: int):
    access = _access(request, project_id, (Section.MESSAGES, Level.FULL), write=True)
    if access is not None:
        broadcast = selectors.broadcast_of(project=access.project, broadcast_id=broadcast_id)
        if broadcast is None:
            raise Http404
        try:
            broadcasts.cancel_broadcast(broadcast=broadcast, actor=request.user)
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
        else:
            messages.success(request, _("The broadcast is cancelled: what has not gone yet will not go."))
    return redirect("dashboard:project-broadcasts", project_id=project_id)


@login_required
@sensitive_post_parameters("token")
def bot_settings(request, project_id: int):
    """The project's bot: its name at the `view` level; at `full`, the form for its token."""
    write = request.method == "POST"
    access = _access(request, project_id, (Section.SETTINGS, Level.FULL if write else Level.VIEW), write=write)
    if access is None:
        return redirect("dashboard:project-bot", project_id=project_id) if write else redirect("dashboard:projects")
    form = BotTokenForm(request.POST or None)
    if write and form.is_valid():
        try:
            bot = bots.connect_bot(project=access.project, actor=request.user, token=form.cleaned_data["token"])
        except (RuleRefused, ValidationError) as exc:
            form.add_error(None, refusal(exc))
        else:
            messages.success(request, _("Connected to @%(username)s.") % {"username": bot.username})
            return redirect("dashboard:project-bot", project_id=project_id)
    return render(request, "dashboard/bot.html", {"project": access.project, "bot": selectors.bot_of(project_id=access.project.pk), "form": form,
                                                  "can_edit": access.allows(Section.SETTINGS, Level.FULL)})
