"""The Telegram webhook, and the dashboard's project pages: the list and a new project, one
project's settings, reasons, participants and subscribers. Access is decided where the API's is
(`permissions.project_access_for`): a participant sees only the sections it was given, read-only
where its level is `view`."""

import hmac

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.selectors import current_state
from core.admin import refusal
from core.exceptions import RuleRefused
from core.pagination import page_of
from projects import imports, selectors, services, telegram
from projects.access import SECTIONS, Level, Section
from projects.forms import AddressBookForm, ContactUploadForm, MemberForm, ProjectForm, SubscriberForm
from projects.models import Industry, Subscriber
from projects.permissions import ANY_ACCESS, project_access_for

SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


@csrf_exempt
def telegram_webhook(request, token: str):
    """Telegram's Bot API posts each Update here (API.md). A plain view, not DRF: it is the hot
    path, it checks its own secret, and it calls nobody outside before answering.

    403 for a wrong or missing secret and 400 (413 if too large) for a body that is not an Update,
    storing nothing; 200 for everything else, ignored updates included, so that Telegram stops
    re-sending; an Update refused for its content (a NUL in a name, an id out of range: issue 17)
    is 200 with `{"code": "refused", "detail"}` and stores nothing either."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    project = selectors.project_for_webhook(token=token)
    if project is None:
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    secret = request.META.get(SECRET_HEADER, "")
    if not hmac.compare_digest(secret.encode(), project.telegram_secret.encode()):
        return JsonResponse({"code": "permission_denied", "detail": "Wrong or missing secret token."}, status=403)
    try:
        update = telegram.read_update(request)
    except telegram.NotAnUpdate as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status)
    try:
        telegram.handle_telegram_update(project=project, update=update)
    except telegram.UpdateRefused as exc:  # acknowledged, so that Telegram stops re-sending it (issue 17)
        return JsonResponse({"code": "refused", "detail": f"Update refused, nothing stored: {exc}"}, status=200)
    return HttpResponse(status=200, content_type="text/plain; charset=utf-8")  # empty: Telegram reads no body (schema: text/plain)



def _access(request, project_id: int, rule, *, write: bool = False):
    try:
        return project_access_for(request.user, project_id, rule, write=write)
    except RuleRefused as exc:
        messages.error(request, refusal(exc))
        return None


@login_required
def project_list(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.create_project(owner=request.user, name=form.cleaned_data["name"], industry=form.cleaned_data["industry"])
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))  # the form keeps what was typed
        else:
            messages.success(request, _("“%(name)s” is created.") % {"name": project.name})
            return redirect("dashboard:project", project_id=project.pk)
    page = page_of(request, selectors.visible_projects(client=request.user), ordering=("-created_at", "-id"), size=25)
    rows = [(project, selectors.access_in_listing(project, client=request.user)) for project in page.rows]
    return render(request, "dashboard/projects.html", {"page": page, "rows": rows, "form": form})


@login_required
def project_detail(request, project_id: int):
    access = _access(request, project_id, ANY_ACCESS)
    if access is None:
        return redirect("dashboard:projects")
    project = selectors.project_with_count(project_id=project_id)
    state, restrictions = current_state(request.user)
    context = {"project": project, "access": access, "sections": SECTIONS, "industries": Industry.choices, "state": state, "restrictions": restrictions,
               "can": {section: {"view": access.allows(section, Level.VIEW), "full": access.allows(section, Level.FULL)} for section in SECTIONS},
               # The participants table's column headers, in SECTIONS' order, translated.
               "section_labels": [(section, Section(section).label) for section in SECTIONS]}
    if access.allows(Section.SUBSCRIBERS, Level.VIEW):
        term = request.GET.get("q", "")[:254]
        context["subscribers"] = page_of(request, selectors.search_subscribers(project=project, term=term), ordering=("-id",), size=25)
        context["q"] = term
        context["subscriber_form"] = SubscriberForm()
    if access.allows(Section.ACCESS_CONTROL, Level.VIEW):
        context["members"] = list(selectors.members_of(project=project)[:200])
        context["member_form"] = MemberForm()
    if access.allows(Section.ADDRESS_BOOKS, Level.VIEW):
        context["address_books"] = list(selectors.address_books_of(project=project).order_by("-id")[:100])
        context["address_book_form"] = AddressBookForm()
    if access.allows(Section.SETTINGS, Level.VIEW):
        context["settings_form"] = ProjectForm(initial={"name": project.name, "industry": project.industry})
    return render(request, "dashboard/project.html", context)


@login_required
@require_POST
def project_update(request, project_id: int):
    access = _access(request, project_id, (Section.SETTINGS, Level.FULL), write=True)
    form = ProjectForm(request.POST)
    if access is not None and form.is_valid():
        try:
            services.update_project(project=access.project, actor=request.user, name=form.cleaned_data["name"], industry=form.cleaned_data["industry"])
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
        else:
            messages.success(request, _("Saved."))
    return redirect("dashboard:project", project_id=project_id)


@login_required
@require_POST
def subscriber_add(request, project_id: int):
    access = _access(request, project_id, (Section.SUBSCRIBERS, Level.FULL), write=True)
    form = SubscriberForm(request.POST)
    if access is not None:
        if not form.is_valid():
            messages.error(request, _("Tick the box: the person consented to receive messages (PRJ-3)."))
        else:
            try:
                services.add_subscriber(project=access.project, actor=request.user, **form.cleaned_data)
            except (RuleRefused, ValidationError) as exc:
                messages.error(request, refusal(exc))
            else:
                messages.success(request, _("The subscriber is added."))
    return redirect("dashboard:project", project_id=project_id)


@login_required
@require_POST
def subscriber_unsubscribe(request, project_id: int, subscriber_id: int):
    access = _access(request, project_id, (Section.SUBSCRIBERS, Level.FULL), write=True)
    if access is not None:
        subscriber = selectors.subscribers_of(project=access.project).filter(pk=subscriber_id).first()
        if subscriber is None:
            raise Http404
        try:
            services.unsubscribe(subscriber=subscriber, actor=request.user)
        except RuleRefused as exc:
            messages.error(request, refusal(exc))
        else:
            messages.success(request, _("%(subscriber)s is unsubscribed.") % {"subscriber": subscriber} if subscriber.status != Subscriber.Status.ACTIVE else _("Done."))
    return redirect("dashboard:project", project_id=project_id)


@login_required
@require_POST
def member_add(request, project_id: int):
    access = _access(request, project_id, (Section.ACCESS_CONTROL, Level.FULL), write=True)
    form = MemberForm(request.POST)
    if access is not None and form.is_valid():
        try:
            services.add_member(granter=access, email=form.cleaned_data["email"], access=form.access(), actor=request.user)
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
        else:
            messages.success(request, _("%(email)s takes part now.") % {"email": form.cleaned_data["email"]})
    return redirect("dashboard:project", project_id=project_id)


@login_required
@require_POST
def member_remove(request, project_id: int, member_id: int):
    access = _access(request, project_id, (Section.ACCESS_CONTROL, Level.FULL), write=True)
    if access is not None:
        member = selectors.members_of(project=access.project).filter(pk=member_id).first()
        if member is None:
            raise Http404
        try:
            services.remove_member(granter=access, member=member, actor=request.user)
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
        else:
            messages.success(request, _("%(email)s no longer takes part.") % {"email": member.client.email})
    return redirect("dashboard:project", project_id=project_id)


@login_required
@require_POST
def address_book_add(request, project_id: int):
    access = _access(request, project_id, (Section.ADDRESS_BOOKS, Level.FULL), write=True)
    form = AddressBookForm(request.POST)
    if access is not None and form.is_valid():
        try:
            book = services.create_address_book(project=access.project, actor=request.user, name=form.cleaned_data["name"])
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
        else:
            return redirect("dashboard:project-address-book", project_id=project_id, book_id=book.pk)
    return redirect("dashboard:project", project_id=project_id)


@login_required
def address_book_detail(request, project_id: int, book_id: int):
    """An address book's contacts, and the upload of a CSV file into it (PRJ-5): htmx sends the
    file with a progress bar and swaps in the outcome, each refused line with its reason; without
    JavaScript the same form posts and the page shows the same outcome."""
    write = request.method == "POST"
    access = _access(request, project_id, (Section.ADDRESS_BOOKS, Level.FULL if write else Level.VIEW), write=write)
    if access is None:
        return redirect("dashboard:projects")
    book = selectors.address_book_of(project=access.project, book_id=book_id)
    if book is None:
        raise Http404
    form = ContactUploadForm(request.POST or None, request.FILES or None)
    outcome = None
    if write and form.is_valid():
        try:
            result = imports.import_contacts(address_book=book, actor=request.user, rows=form.cleaned_data["file"], consent_confirmed=True)
        except (RuleRefused, ValidationError) as exc:
            form.add_error(None, refusal(exc))
        else:
            # The file's line: its header is line 1, the import counts rows from 0.
            outcome = {"created": result.created, "rejected": [{**r, "line": r["row"] + 2} for r in result.rejected[:500]],
                       "more_rejected": max(0, len(result.rejected) - 500), "rejected_count": len(result.rejected)}
            form = ContactUploadForm()
    context = {"project": access.project, "book": book, "form": form, "outcome": outcome, "can_upload": access.allows(Section.ADDRESS_BOOKS, Level.FULL),
               "contacts": page_of(request, selectors.contacts_of(address_book=book), ordering=("-id",), size=50)}
    if request.htmx and write:
        return render(request, "dashboard/_upload.html", context)
    return render(request, "dashboard/address_book.html", context)
