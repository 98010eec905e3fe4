"""The dashboard's account pages. allauth serves sign-up, sign-in, email and 2FA pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import AccessRecoveryForm, ApiKeyCreateForm
from accounts.models import ApiKey
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
            _, secret = services.create_api_key(client=request.user, name=form.cleaned_data["name"], actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except RuleRefused as exc:
            messages.error(request, exc.detail)
        else:
            # Shown once on the next page, then gone from the session too.
            request.session["new_api_key"] = secret
    else:
        messages.error(request, "Give the key a name.")
    return redirect("dashboard:home")


@login_required
@require_POST
def api_key_revoke(request, pk: int):
    try:
        api_key = selectors.live_api_key(client=request.user, pk=pk)
    except ApiKey.DoesNotExist:
        messages.error(request, "That key does not exist or is already revoked.")
    else:
        services.revoke_api_key(api_key=api_key, actor=request.user)
        messages.success(request, f"The key “{api_key.name}” is revoked.")
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
