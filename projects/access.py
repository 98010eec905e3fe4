"""Sections and levels of project access (PRJ-1), in one place. Pure: no database here."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Section(models.TextChoices):
    FUNNELS = "funnels", _("Funnels")
    SUBSCRIBERS = "subscribers", _("Subscribers")
    ADDRESS_BOOKS = "address_books", _("Address books")
    MESSAGES = "messages", _("Messages")
    STATISTICS = "statistics", _("Statistics")
    SETTINGS = "settings", _("Settings")
    ACCESS_CONTROL = "access_control", _("Access control")


class Level(models.TextChoices):
    NONE = "none", _("No access")
    VIEW = "view", _("View")
    FULL = "full", _("Full")


RANK = {Level.NONE: 0, Level.VIEW: 1, Level.FULL: 2}
SECTIONS: tuple[str, ...] = tuple(Section.values)
OWNER_ACCESS: dict[str, str] = {section: Level.FULL for section in SECTIONS}
NO_ACCESS: dict[str, str] = {section: Level.NONE for section in SECTIONS}


def allows(access: dict[str, str], section: str, level: str) -> bool:
    """Whether an access map reaches `level` in `section` (full includes view)."""
    return RANK[access.get(section, Level.NONE)] >= RANK[level]


def sees_anything(access: dict[str, str]) -> bool:
    """A participant whose every section is `none` has no access: the project is invisible to it."""
    return any(RANK[level] > 0 for level in access.values())


def within(access: dict[str, str], held: dict[str, str]) -> bool:
    """Whether every section of `access` is at most what `held` holds (what a granter may give)."""
    return all(RANK[level] <= RANK[held.get(section, Level.NONE)] for section, level in access.items())
