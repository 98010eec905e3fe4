from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.sites import UnfoldAdminSite


class PlatformAdminSite(UnfoldAdminSite):
    """The staff console. Sign-in goes through the account pages (lockout and 2FA included); with
    ADMIN_REQUIRES_2FA (on in production) staff without two-factor authentication are sent to set
    it up before any admin page opens."""

    site_header = _("Back office")
    site_title = _("Back office")
    index_title = _("Staff console")

    def _lacks_required_2fa(self, request) -> bool:
        return settings.ADMIN_REQUIRES_2FA and not get_mfa_adapter().is_mfa_enabled(request.user)

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and not self._lacks_required_2fa(request)

    def login(self, request, extra_context=None):
        if not request.user.is_authenticated:
            return redirect_to_login(request.GET.get("next") or request.get_full_path())
        if request.user.is_active and request.user.is_staff and self._lacks_required_2fa(request):
            messages.warning(request, gettext("Staff need two-factor authentication to use the admin: set it up first."))
            return redirect("mfa_activate_totp")
        return super().login(request, extra_context)
