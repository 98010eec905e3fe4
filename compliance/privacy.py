"""The privacy registry (CMP-2): each app registers, at start-up, what personal data it holds on
a person and how to export it; compliance gathers them without importing any app (DESIGN.md)."""

from collections.abc import Callable
from dataclasses import dataclass

Exporter = Callable[[object], dict | list]
Eraser = Callable[[object, "Person"], None]


@dataclass(frozen=True)
class Person:
    """The values to erase: what the person was called and how it was reached."""

    client_id: int
    email: str
    name: str


@dataclass(frozen=True)
class Holder:
    name: str
    export: Exporter
    erase: Eraser | None = None


_holders: dict[str, Holder] = {}


def register(name: str, *, export: Exporter, erase: Eraser | None = None) -> None:
    """Called from an app's `ready()`: `export(client)` returns that app's data on the client,
    JSON-ready; `erase(client, person)` anonymises it, keeping what tax or accounting needs."""
    _holders[name] = Holder(name=name, export=export, erase=erase)


def holders() -> list[Holder]:
    return [_holders[name] for name in sorted(_holders)]


def export_person(client) -> dict:
    """One JSON document of everything every app holds on the person (CMP-2 access, portability)."""
    return {holder.name: holder.export(client) for holder in holders()}


Settler = Callable[[object], None]
Hold = Callable[[object], str | None]
_settlers: list[Settler] = []
_holds: list[Hold] = []


def register_hold(*, settle: Settler | None = None, hold: Hold) -> None:
    """What keeps an erasure waiting (CMP-2: a debt, an open dispute): `settle(client)` is tried
    first (DEA-5: charge the debt to the card), then `hold(client)` says why it must still wait."""
    if settle is not None:
        _settlers.append(settle)
    _holds.append(hold)


def settle(client) -> None:
    for settler in _settlers:
        settler(client)


def holds(client) -> list[str]:
    return [reason for check in _holds if (reason := check(client))]


SubjectEraser = Callable[..., dict[str, int]]
_subject_erasers: list[SubjectEraser] = []


def register_subject_eraser(erase: SubjectEraser) -> None:
    """`erase(email=..., phone=...)` anonymises a person who is no client (a subscriber, a
    contact) wherever the app holds them, and says how many records of each kind."""
    _subject_erasers.append(erase)


def erase_subject(*, email: str, phone: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for erase in _subject_erasers:
        for kind, n in erase(email=email, phone=phone).items():
            counts[kind] = counts.get(kind, 0) + n
    return counts
