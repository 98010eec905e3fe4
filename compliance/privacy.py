"""The privacy registry (CMP-2): each app registers, at start-up, what personal data it holds on
a person and how to export it; compliance gathers them without importing any app (DESIGN.md)."""

from collections.abc import Callable
from dataclasses import dataclass

Exporter = Callable[[object], dict | list]


@dataclass(frozen=True)
class Holder:
    name: str
    export: Exporter


_holders: dict[str, Holder] = {}


def register(name: str, *, export: Exporter) -> None:
    """Called from an app's `ready()`: `export(client)` returns that app's data on the client,
    JSON-ready (strings, numbers, lists, dicts)."""
    _holders[name] = Holder(name=name, export=export)


def holders() -> list[Holder]:
    return [_holders[name] for name in sorted(_holders)]


def export_person(client) -> dict:
    """One JSON document of everything every app holds on the person (CMP-2 access, portability)."""
    return {holder.name: holder.export(client) for holder in holders()}
