"""Projects' data, by what it is: the project, its people and subscribers (`projects`), its
funnels and where each subscriber stands in them (`funnels`), its bot and what it sends
(`messages`)."""

from projects.models.funnels import Block, Funnel, FunnelState, FunnelStep, SubscriberTag
from projects.models.messages import Broadcast, OutboundMessage, ProjectBot
from projects.models.projects import (
    REVIEWED_INDUSTRIES,
    AddressBook,
    Contact,
    Industry,
    Project,
    ProjectMember,
    ProjectRestriction,
    Subscriber,
    TelegramUpdate,
    new_public_key,
    new_telegram_secret,
    new_webhook_token,
)

__all__ = [
    "REVIEWED_INDUSTRIES", "AddressBook", "Block", "Broadcast", "Contact", "Funnel", "FunnelState", "FunnelStep",
    "Industry", "OutboundMessage", "Project", "ProjectBot", "ProjectMember", "ProjectRestriction", "Subscriber",
    "SubscriberTag", "TelegramUpdate", "new_public_key", "new_telegram_secret", "new_webhook_token",
]
