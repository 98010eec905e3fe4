"""The dashboard's account pages. allauth serves sign-up, sign-in, email and 2FA pages."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import AccessRecoveryForm, ApiKeyCreateForm
from accounts.models import ApiKey
from compliance.cookies import YEAR, visitor_of
from compliance.selectors import cookie_consent_of
from core.admin import refusal
from core.exceptions import RuleRefused


@login_required
def home(request):
    client = request.user
    state, restrictions = selectors.current_state(client)
    context = {
        "client": client,
        "state": state,
        "restrictions": restrictions,
        "has_two_factor": services.has_two_factor(client),
        "api_keys": selectors.live_api_keys(client=client)[:50],
        "api_key_form": ApiKeyCreateForm(),
        "new_key": request.session.pop("new_api_key", None),
    }
    return render(request, "dashboard/home.html", context)


@login_required
@require_POST
def api_key_create(request):
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        try:
            _key, secret = services.create_api_key(client=request.user, name=form.cleaned_data["name"], actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except RuleRefused as exc:
            messages.error(request, refusal(exc))
        else:
            # Shown once on the next page, then gone from the session too.
            request.session["new_api_key"] = secret
    else:
        messages.error(request, _("Give the key a name."))
    return redirect("dashboard:home")


@login_required
@require_POST
def api_key_revoke(request, pk: int):
    try:
        api_key = selectors.live_api_key(client=request.user, pk=pk)
    except ApiKey.DoesNotExist:
        messages.error(request, _("That key does not exist or is already revoked."))
    else:
        services.revoke_api_key(api_key=api_key, actor=request.user)
        messages.success(request, _("The key “%(name)s” is revoked.") % {"name": api_key.name})
    return redirect("dashboard:home")


def access_recovery(request):
    form = AccessRecoveryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.request_access_recovery(**form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field, errors)
        else:
            return render(request, "dashboard/access_recovery_sent.html")
    return render(request, "dashboard/access_recovery.html", {"form": form})


@require_POST
def choose_language(request):
    """The header's language switch: the signed-in client's choice is kept on its account (its
    emails follow it, NTF-1); the browser keeps it in a cookie, for the session only unless the
    visitor allowed preference cookies (CMP-8)."""
    target = request.POST.get("next", "/")
    response = redirect(target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()) else "/")
    language = request.POST.get("language", "")
    if not services.is_language(language):
        messages.error(request, services.NOT_A_LANGUAGE)
        return response
    client = request.user if request.user.is_authenticated else None
    if client is not None:
        services.set_language(client=client, language=language)
    consent = cookie_consent_of(visitor=visitor_of(request), client=client)
    lasting = consent is not None and consent.preference
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=YEAR if lasting else None, samesite="Lax", httponly=True,
                        secure=request.is_secure())
    return response
