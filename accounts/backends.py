from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts import services
from accounts.models import normalize_email


class LockoutModelBackend(ModelBackend):
    """Email and password, with the lockout of ACC-2 for the dashboard, the admin and the API alike."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = normalize_email(email or username or kwargs.get("login") or "")
        if not email or password is None:
            return None
        if services.sign_in_lockout_remaining(email=email):
            # Stops every other backend too: a locked email cannot sign in, right password or not.
            raise PermissionDenied("locked")
        client = super().authenticate(request, username=email, password=password)
        if client is None:
            services.note_failed_sign_in(email=email)
        else:
            services.clear_failed_sign_ins(email=email)
        return client
