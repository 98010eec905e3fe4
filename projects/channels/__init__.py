"""The outbound channel port (MSG-1): one interface, chosen by the MESSAGING_CHANNEL setting.

The rate limiter that keeps all workers within the messenger's limits is `projects.channels.limiter`.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from projects.channels.base import BotIdentity, Button, Channel, ChannelRefused, ChannelUnavailable, Delivery, Outcome, Outgoing

CHANNELS = {
    "telegram": "projects.channels.telegram.TelegramChannel",
}

__all__ = ["BotIdentity", "Button", "Channel", "ChannelRefused", "ChannelUnavailable", "Delivery", "Outcome", "Outgoing", "get_channel"]


def get_channel() -> Channel:
    """The configured channel: `telegram` (the default) or a dotted path to a Channel class."""
    name = getattr(settings, "MESSAGING_CHANNEL", "") or "telegram"
    return import_string(CHANNELS.get(name, name))()
