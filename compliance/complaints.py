"""What compliance asks about the project a complaint names, without knowing the projects app
(DESIGN.md): whether it exists, and whether the complainant is one of its subscribers or contacts
(CMP-4). The projects app registers how, in its AppConfig.ready()."""

from collections.abc import Callable

_lookups: dict[str, Callable] = {}


def register(*, exists: Callable[[int], bool], knows: Callable[[int, str, object], bool]) -> None:
    """`exists(project_id)`; `knows(project_id, identification, complainant)`: the identification
    (or the complainant's account) matches a subscriber or contact of the project."""
    _lookups.update(exists=exists, knows=knows)


def project_exists(project_id: int) -> bool:
    return bool(_lookups) and _lookups["exists"](project_id)


def complainant_known(project_id: int, identification: str, complainant) -> bool:
    return bool(_lookups) and _lookups["knows"](project_id, identification, complainant)


_guards: list[Callable] = []


def register_guard(refusal: Callable[[object], Exception | None]) -> None:
    """`refusal(complainant)`: the refusal when this complainant may not file a complaint now
    (ACC-3, registered by accounts), else None."""
    _guards.append(refusal)


def check_complainant(complainant) -> None:
    for guard in _guards:
        if (refused := guard(complainant)) is not None:
            raise refused
