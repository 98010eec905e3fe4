"""The dashboard's overview, billing and privacy pages. Each view reads through selectors, writes
through the one service the API calls, and shows a refusal's sentence (the API's `detail`) on
the page; nothing here decides a rule."""

import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import selectors as accounts_selectors
from accounts import services as accounts
from billing import selectors, services
from billing.forms import CardForm, DeactivateForm, DeleteAccountForm, PeriodForm, PrivacyRequestForm, TopUpForm
from billing.models import Card, Period
from billing.pdf import invoice_pdf as render_invoice_pdf
from compliance import selectors as compliance_selectors
from compliance import services as compliance
from core.admin import refusal
from core.exceptions import RuleRefused
from core.pagination import page_of
from projects import selectors as projects_selectors


@login_required
def overview(request):
    """Tariff, subscribers against the Free limit or the packages, wallet, the next renewal with
    its wallet/card split, and a banner for every restriction and for a debt."""
    client = request.user
    state, restrictions = accounts_selectors.current_state(client)
    summary = selectors.summary(client=client)
    active = summary["active_subscribers"]
    capacity = selectors.subscriber_capacity(summary)
    return render(request, "dashboard/overview.html", {
        "state": state, "restrictions": restrictions, "summary": summary, "upcoming": selectors.upcoming(client=client),
        "capacity": capacity, "used_percent": min(100, round(100 * active / capacity)) if capacity else 100,
        "period_label": _period_label(summary["period"]),
        "projects": projects_selectors.visible_projects(client=client).count(),
        "notices": accounts_selectors.notices_of(client, limit=10),
    })


@login_required
def billing(request):
    client = request.user
    summary = selectors.summary(client=client)
    quotes = {period: services.activation_quote(client=client, period=period) for period in Period.values} if summary["tariff"] == "free" else {}
    return render(request, "dashboard/billing.html", {
        "summary": summary, "upcoming": selectors.upcoming(client=client), "quotes": quotes,
        "period_label": _period_label(summary["period"]), "pending_period_label": _period_label(summary["pending_period"]),
        "ledger": page_of(request, selectors.ledger_of(client=client), ordering=("-created_at", "-id"), size=20),
        "invoices": page_of(request, selectors.invoices_of(client=client), ordering=("-issued_at", "-id"), size=20, prefix="invoices"),
        "cards": [(Card.Role.MAIN, summary["card"]), (Card.Role.BACKUP, summary["backup_card"])],
        "top_up_key": f"dash-{uuid.uuid4()}", "periods": Period.choices,
        "deactivation": selectors.deactivation_terms(client=client) if summary["tariff"] == "pro" else None,
    })


@login_required
@require_POST
def card_save(request):
    form = CardForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter the card's token from the payment form."))
        return redirect("dashboard:billing")
    try:
        card = services.attach_card(client=request.user, token=form.cleaned_data["token"], role=form.cleaned_data["role"], actor=request.user)
    except (RuleRefused, ValidationError) as exc:
        messages.error(request, refusal(exc))
    else:
        messages.success(request, _("%(card)s is verified: $1.00 went to your wallet (WAL-4).") % {"card": Card.label(card.brand, card.last4)})
    return redirect("dashboard:billing")


@login_required
@require_POST
def card_remove(request):
    role = request.POST.get("role", Card.Role.MAIN)
    if role not in Card.Role.values:
        raise Http404
    try:
        services.remove_card(client=request.user, role=role, actor=request.user)
    except RuleRefused as exc:
        messages.error(request, refusal(exc))
    else:
        messages.success(request, _("The card is removed."))
    return redirect("dashboard:billing")


@login_required
@require_POST
def top_up(request):
    form = TopUpForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("dashboard:billing")
    try:
        # The form's own key: a double submit of the same form is the same top-up, charged once.
        result = services.top_up(client=request.user, amount_cents=form.cleaned_data["amount_cents"],
                                 idempotency_key=form.cleaned_data["key"] or f"dash-{uuid.uuid4()}", actor=request.user)
    except (RuleRefused, ValidationError) as exc:
        messages.error(request, refusal(exc))
    else:
        messages.success(request, f"{result.entry.description}.")
    return redirect("dashboard:billing")


@login_required
def activate(request):
    """A confirmation that shows what is charged now and from where, then the activation."""
    form = PeriodForm(request.POST or request.GET or None)
    if not form.is_valid():
        messages.error(request, _("Choose a period."))
        return redirect("dashboard:billing")
    period = form.cleaned_data["period"]
    if request.method == "POST" and request.POST.get("confirmed") == "yes":
        try:
            services.activate_pro(client=request.user, period=period, actor=request.user)
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
            return redirect(f"{request.path}?period={period}")
        messages.success(request, _("PRO is active."))
        return redirect("dashboard:billing")
    return render(request, "dashboard/activate.html", {
        "period": period, "period_label": Period(period).label, **selectors.activation_terms(client=request.user, period=period),
        "card": services.live_card(request.user),
    })


@login_required
def deactivate(request):
    """A confirmation that says what ends and when (DEA-1..3), then the deactivation."""
    terms = selectors.deactivation_terms(client=request.user)
    if terms is None:
        messages.error(request, _("PRO is not active."))
        return redirect("dashboard:billing")
    form = DeactivateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = services.deactivate_pro(client=request.user, confirm=form.cleaned_data["confirm"], actor=request.user)
        except (RuleRefused, ValidationError) as exc:
            messages.error(request, refusal(exc))
        else:
            if subscription.is_active:
                messages.success(request, _("PRO ends after %(date)s; until then nothing changes.") % {"date": date_format(subscription.ends_after, "DATE_FORMAT")})
            else:
                messages.success(request, _("PRO has ended; your projects are archived."))
            return redirect("dashboard:billing")
    return render(request, "dashboard/deactivate.html", {"terms": terms, "form": form})


@login_required
@require_POST
def period(request):
    form = PeriodForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a period."))
        return redirect("dashboard:billing")
    try:
        _subscription, pending = services.change_period(client=request.user, period=form.cleaned_data["period"], actor=request.user)
    except (RuleRefused, ValidationError) as exc:
        messages.error(request, refusal(exc))
    else:
        messages.success(request, _("Staff decide a shorter period; you will be told by email.") if pending else _("The period is changed."))
    return redirect("dashboard:billing")


@login_required
def invoice_pdf(request, number: str):
    invoice = selectors.invoices_of(client=request.user).filter(number=number).first()
    if invoice is None:
        raise Http404
    response = HttpResponse(render_invoice_pdf(invoice, operator=settings.SITE_NAME), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response


@login_required
def privacy(request):
    """Export, privacy requests with their due dates, marketing consent, and deleting the account."""
    client = request.user
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "export":
            response = HttpResponse(_json(compliance.export_data(client=client)), content_type="application/json")
            response["Content-Disposition"] = 'attachment; filename="my-data.json"'
            return response
        if action == "marketing":
            compliance.set_marketing_consent(client=client, given=request.POST.get("given") == "yes")
            messages.success(request, _("Your marketing consent is saved."))
            return redirect("dashboard:privacy")
        if action == "request":
            form = PrivacyRequestForm(request.POST)
            if form.is_valid():
                try:
                    compliance.receive_privacy_request(client=client, kind=form.cleaned_data["kind"], details=form.cleaned_data["details"], actor=client)
                except ValidationError as exc:
                    messages.error(request, refusal(exc))
                else:
                    messages.success(request, _("Your request is received; we answer by its due date."))
                    return redirect("dashboard:privacy")
    consent = compliance_selectors.marketing_consent_of(client=client)
    return render(request, "dashboard/privacy.html", {
        "requests": compliance_selectors.privacy_requests_of(client=client)[:50], "consent": consent, "request_form": PrivacyRequestForm(),
        "terms": selectors.deletion_terms(client=client), "delete_form": DeleteAccountForm(),
    })


@login_required
@require_POST
def delete_account(request):
    form = DeleteAccountForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tick the box and enter your password to delete the account."))
        return redirect("dashboard:privacy")
    try:
        accounts.delete_account(client=request.user, password=form.cleaned_data["password"], actor=request.user)
    except ValidationError as exc:
        messages.error(request, refusal(exc))
        return redirect("dashboard:privacy")
    logout(request)
    return render(request, "dashboard/deleted.html")


def _period_label(value: str | None) -> str:
    """The period as a person reads it (the model's label, in the active language); "" without one."""
    return Period(value).label if value else ""


def _json(document: dict) -> str:
    return json.dumps(document, indent=2, default=str)
