"""`/health/` for a load balancer (issue 17, item 6), on django-health-check: 200 when every check
passes, 503 naming the checks that failed otherwise (never a secret: no URL, no host, no password);
JSON for `Accept: application/json` (or `?format=json`), plain text, or a page.

The checks are listed in `settings.HEALTH_CHECKS` (the night's is billing's, `billing.health`):
the database, the cache, the broker (nothing to reach when tasks run inline), the last night, and
the migrations, all applied: what monitoring reads. `/health/ready/` (`settings.HEALTH_READY_CHECKS`:
the database and the migrations) is what a load balancer should probe: whether this node can serve.
A broker or cache outage, or a failed night, is the whole platform's (every node would fail it at
once, and a balancer would take them all out) while requests still work: the outbox keeps the
tasks, the cache fails open."""

import dataclasses
import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpResponse, JsonResponse
from health_check import checks as builtin
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

# Per database alias: the applied migrations last found to be all the code has.
_complete: dict[str, frozenset] = {}
# Not 500: the load balancer (and a person) should read it as "this node cannot serve now".
UNHEALTHY_STATUS = 503


class NotedCheck(HealthCheck):
    """A check that can pass with a note ("tasks run inline", "no night has run yet"), shown
    after its OK. `name` is its key in the answer."""

    name = "check"
    note = ""

    def pretty_status(self) -> str:
        return f"OK ({self.note})" if self.note else "OK"

    def __repr__(self) -> str:
        return self.name


class ThreadSensitiveCheck(NotedCheck):
    """A check that reads the database through the ORM: run on the request's own thread (its
    connection, closed with the request), not in a pool thread that would keep one open."""

    async def run(self) -> None:
        await sync_to_async(self.check)()

    def check(self) -> None:
        raise NotImplementedError


# NotedCheck first, for its name as the answer's key (not the dataclass's generated repr).
@dataclasses.dataclass(repr=False)
class Database(NotedCheck, builtin.Database):
    name = "database"


@dataclasses.dataclass(repr=False)
class Cache(NotedCheck, builtin.Cache):
    name = "cache"


@dataclasses.dataclass(repr=False)
class Broker(NotedCheck):
    """The Celery broker answers a connection, when there is one: with tasks inline (eager, the
    default without CELERY_BROKER_URL) there is nothing to reach."""

    name = "broker"
    timeout = datetime.timedelta(seconds=3)

    def run(self) -> None:
        url = settings.CELERY_BROKER_URL
        if settings.CELERY_TASK_ALWAYS_EAGER or url.startswith("memory://"):
            self.note = "tasks run inline: no broker configured"
            return
        from kombu import Connection

        try:
            with Connection(url, connect_timeout=2, transport_options={"socket_timeout": 2, "socket_connect_timeout": 2}) as connection:
                connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
                transport = str(connection.transport_cls)
        except Exception as exc:  # the reason only, never the URL (it holds the password)
            raise ServiceUnavailable(f"the broker does not answer ({type(exc).__name__})") from exc
        self.note = f"{transport} answers"


@dataclasses.dataclass(repr=False)
class MigrationsApplied(ThreadSensitiveCheck):
    """Every migration of the code is applied to the database: a node started before `migrate`
    ran (or with it failed) would serve with the wrong tables."""

    name = "migrations"
    alias: str = DEFAULT_DB_ALIAS

    def check(self) -> None:
        connection = connections[self.alias]
        # Loading the migration graph costs ~50 ms a probe; the code's graph is fixed for the
        # process, so once the applied set was found complete, the same set is complete again.
        applied = frozenset(MigrationRecorder(connection).applied_migrations())
        if _complete.get(self.alias) == applied:
            return
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
            shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
            raise ServiceUnavailable(f"{len(pending)} migration(s) not applied: {shown}")
        _complete[self.alias] = applied


class HealthView(HealthCheckView):
    """django-health-check's view, answering 503 (not 500) when a check fails, with each check
    under its name, and its page from our template (its style under the CSP's nonce)."""

    template_name = "health.html"
    checks = ()  # the setting's unless as_view() is given others
    checks_setting = "HEALTH_CHECKS"

    def get_checks(self):
        self.checks = self.checks or getattr(settings, self.checks_setting)
        return super().get_checks()

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        if response.status_code == 500:
            response.status_code = UNHEALTHY_STATUS
        return response

    def _statuses(self) -> dict[str, str]:
        return {repr(r.check): str(r.error) if r.error else r.check.pretty_status() for r in self.results}

    def render_to_response_json(self, status):
        failed = [repr(r.check) for r in self.results if r.error]
        return JsonResponse({"status": "unhealthy" if failed else "healthy", "failed": failed, "checks": self._statuses()}, status=status)

    def render_to_response_text(self, status):
        lines = "".join(f"{name}: {value}\n" for name, value in self._statuses().items())
        return HttpResponse(lines, content_type="text/plain; charset=utf-8", status=status)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "statuses": self._statuses()}


class ReadyView(HealthView):
    """`/health/ready/`: only what this node needs to serve (the load balancer's probe)."""

    checks_setting = "HEALTH_READY_CHECKS"
