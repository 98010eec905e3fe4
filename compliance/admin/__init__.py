"""Compliance's staff console, by what it keeps; importing the modules registers them."""

from compliance.admin import complaints, incidents, legal, privacy  # noqa: F401
