"""The night's health check for `/health/` (issue 17, item 6): the last night finished, and not
long ago. A node whose nights stopped (beat down, a night that failed, was interrupted or hangs)
answers 503 naming it, so that someone looks before the day's renewals and dunning are missed."""

import dataclasses
import datetime

from django.conf import settings
from django.utils import timezone
from health_check.exceptions import ServiceUnavailable

from billing import selectors
from billing.models import NightlyRun
from core.health import ThreadSensitiveCheck

# The night runs every 24 h (01:00 UTC+2): two hours' grace for a late or long one.
MAX_AGE = datetime.timedelta(hours=26)
# A running night shows a sign of life at each chunk and wait (its heartbeat; its start before
# the first): silent longer than the night's own limit (NIGHT_STALE_AFTER, after which the next run
# closes it as interrupted), it is stuck or its process is gone.
DEFAULT_MAX_SILENCE_SECONDS = 2 * 3600


def max_silence() -> datetime.timedelta:
    return datetime.timedelta(seconds=getattr(settings, "NIGHT_STALE_AFTER", DEFAULT_MAX_SILENCE_SECONDS))


def _at(moment: datetime.datetime) -> str:
    return timezone.localtime(moment, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclasses.dataclass(repr=False)
class LastNight(ThreadSensitiveCheck):
    name = "last_night"

    def check(self) -> None:
        run = selectors.last_night()
        now = timezone.now()
        if run is None:
            self.note = "no night has run yet"
            return
        if run.status == NightlyRun.Status.RUNNING:
            last_sign = getattr(run, "heartbeat_at", None) or run.started_at
            if now - last_sign > max_silence():
                raise ServiceUnavailable(f"the night of {run.night} is marked running but silent since {_at(last_sign)}")
            self.note = f"the night of {run.night} is running since {_at(run.started_at)}"
            return
        if run.status != NightlyRun.Status.DONE:
            raise ServiceUnavailable(f"the night of {run.night} did not finish: {run.get_status_display().lower()} at {_at(run.finished_at or run.started_at)}")
        finished = run.finished_at or run.started_at
        if now - finished > MAX_AGE:
            hours = int((now - finished).total_seconds() // 3600)
            raise ServiceUnavailable(f"no night since the night of {run.night}, finished {hours} h ago at {_at(finished)}")
        self.note = f"the night of {run.night} finished at {_at(finished)}"
