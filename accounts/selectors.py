from django.db.models import QuerySet

from accounts.models import ApiKey, Client


def live_api_keys(*, client: Client) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(client=client, revoked_at__isnull=True).order_by("-created_at", "-id")


def live_api_key(*, client: Client, pk: int) -> ApiKey:
    """The client's own live key, or 404: another client's key is as good as absent."""
    return live_api_keys(client=client).get(pk=pk)
