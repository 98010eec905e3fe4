"""A chunk's work done at once, or, when that fails, for each of its clients alone (the night)."""

import logging
import traceback
from collections.abc import Callable


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def at_once_or_each[T](work: Callable[[list[int]], T], ids: list[int], *, logger: logging.Logger, what: str) -> tuple[list[T], list[dict]]:
    """`work(ids)` for the whole chunk; if it raises, that is logged and `work([id])` runs for each
    id alone, so that one client's failure stops nobody else. Returns what the runs that succeeded
    returned, and a failure per run that raised: its client (None, with the chunk, for the chunk),
    error and trace, for the night's record."""
    try:
        return [work(ids)], []
    except Exception as exc:  # noqa: BLE001 (one by one instead: each client's failure on its own)
        chunk = f"{len(ids)} clients, {ids[0]}–{ids[-1]}" if ids else "empty"
        logger.exception("%s: the chunk (%s) failed; doing it one client at a time", what, chunk)
        failures = [{"client": None, "chunk": chunk, "error": f"chunk failed, done one by one: {_error(exc)}", "trace": traceback.format_exc()[-2000:]}]
    results = []
    for client_id in ids:
        try:
            results.append(work([client_id]))
        except Exception as exc:  # noqa: BLE001 (one client's failure must not stop the others)
            logger.exception("%s: client %s failed", what, client_id)
            failures.append({"client": client_id, "error": _error(exc), "trace": traceback.format_exc()[-2000:]})
    return results, failures
