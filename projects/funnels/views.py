"""The dashboard's funnel pages (PRJ-6) under the `funnels` section (PRJ-1): the list, the block
editor (new and existing), a read-only view at the `view` level, and deletion after a
confirmation. The editor builds a spec and hands it to the services; a refused funnel shows the
refusal's sentence with everything typed kept, and nothing is stored."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from core.admin import refusal
from core.exceptions import RuleRefused
from core.pagination import page_of
from projects import selectors
from projects.access import Level, Section
from projects.funnels import services
from projects.funnels.forms import PREFIX, BlockFormSet, FunnelForm, as_typed, funnel_spec, initial_of
from projects.views import _access

VIEW, FULL = (Section.FUNNELS, Level.VIEW), (Section.FUNNELS, Level.FULL)
NEW_FUNNEL = {"name": "", "start": "start"}
NEW_BLOCKS = [{"key": "start", "kind": "message"}]


def _funnel(access, funnel_id: int):
    funnel = selectors.funnel_of(project=access.project, funnel_id=funnel_id)
    if funnel is None:
        raise Http404
    funnel.project = access.project
    return funnel


@login_required
def funnel_list(request, project_id: int):
    access = _access(request, project_id, VIEW)
    if access is None:
        return redirect("dashboard:projects")
    page = page_of(request, selectors.funnels_of(project=access.project), ordering=("-id",), size=25)
    return render(request, "dashboard/funnels.html", {"project": access.project, "page": page,
                                                      "can_edit": access.allows(Section.FUNNELS, Level.FULL)})


@login_required
def funnel_edit(request, project_id: int, funnel_id: int | None = None):
    """The block editor; `funnel_id` None is a new funnel. At the `view` level, the funnel read-only."""
    write = request.method == "POST"
    access = _access(request, project_id, FULL if write or funnel_id is None else VIEW, write=write)
    if access is None:
        if funnel_id is None:
            return redirect("dashboard:project-funnels", project_id=project_id)
        return redirect("dashboard:project-funnel", project_id=project_id, funnel_id=funnel_id) if write else redirect("dashboard:projects")
    funnel = _funnel(access, funnel_id) if funnel_id is not None else None
    stored = services.spec_of(funnel) if funnel is not None else None
    context = {"project": access.project, "funnel": funnel, "stored": stored, "can_edit": access.allows(Section.FUNNELS, Level.FULL)}
    if not context["can_edit"]:
        return render(request, "dashboard/funnel_edit.html", context)
    if not write:
        initial, rows = initial_of(stored) if stored is not None else (NEW_FUNNEL, NEW_BLOCKS)
        form, blocks = FunnelForm(initial=initial), BlockFormSet(initial=rows, prefix=PREFIX)
    elif "add_block" in request.POST:
        # One more empty row, all typed kept; nothing is checked or stored yet (htmx swaps in the rows).
        initial, rows = as_typed(request.POST)
        form, blocks = FunnelForm(initial=initial), BlockFormSet(initial=rows, prefix=PREFIX)
    else:
        form, blocks = FunnelForm(request.POST), BlockFormSet(request.POST, prefix=PREFIX)
        if form.is_valid() & blocks.is_valid():
            spec = funnel_spec(form, blocks)
            try:
                if funnel is None:
                    funnel = services.create_funnel(project=access.project, actor=request.user, spec=spec)
                else:
                    services.replace_funnel(funnel=funnel, actor=request.user, spec=spec)
            except (RuleRefused, ValidationError) as exc:
                form.add_error(None, refusal(exc))  # the form keeps what was typed; nothing is stored
            else:
                messages.success(request, _("The funnel “%(name)s” is saved.") % {"name": spec.name})
                return redirect("dashboard:project-funnel", project_id=project_id, funnel_id=funnel.pk)
    context.update(form=form, blocks=blocks)
    return render(request, "dashboard/funnel_edit.html", context)


@login_required
def funnel_delete(request, project_id: int, funnel_id: int):
    """A page that says what goes, and the deletion on its POST."""
    write = request.method == "POST"
    access = _access(request, project_id, FULL, write=write)
    if access is None:
        return redirect("dashboard:project-funnels", project_id=project_id)
    funnel = _funnel(access, funnel_id)
    if write:
        try:
            services.delete_funnel(funnel=funnel, actor=request.user)
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
            return redirect("dashboard:project-funnel", project_id=project_id, funnel_id=funnel.pk)
        messages.success(request, _("The funnel “%(name)s” is deleted.") % {"name": funnel.name})
        return redirect("dashboard:project-funnels", project_id=project_id)
    return render(request, "dashboard/funnel_delete.html", {"project": access.project, "funnel": funnel,
                                                            "block_count": len(funnel.blocks.all())})
