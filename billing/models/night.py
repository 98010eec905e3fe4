"""What billing keeps of its nights: each run and step, the done-marks, the daily snapshot and
the per-client monthly MRR behind the staff console's figures."""


from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models.money import CLIENT_MODEL


class NightlyRun(models.Model):
    """One run of the night (command, beat or the admin's re-run) and what it did."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped by an error"
        # Killed (a process or a machine gone mid-run): closed by the next run, which recounted what
        # it had done from the rows it wrote (issue 17, item 5).
        INTERRUPTED = "interrupted", "Interrupted (closed by the next run)"

    night = models.DateField(help_text=_("The billing day whose night this is."))
    at = models.DateTimeField(help_text=_("The instant the night ran as of."))
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text=_("Last sign of life of a running night (each chunk, each wait)."))
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text=_("The decisions of a dry run; totals otherwise."))
    error = models.TextField(blank=True)

    class Meta:
        permissions = [("run_night", "Can run tonight's night or its dry run from the admin")]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{'Dry run of the night' if self.dry_run else 'Night'} of {self.night} ({self.get_status_display().lower()})"


class NightlyStep(models.Model):
    run = models.ForeignKey(NightlyRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=20)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    clients = models.PositiveIntegerField(default=0, help_text=_("Clients whose work was done in this step."))
    skipped = models.PositiveIntegerField(default=0, help_text=_("Clients already done by an earlier run of this night."))
    charged_cents = models.BigIntegerField(default=0)
    credited_cents = models.BigIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True, help_text=_("[{client, error}]"))

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} of the night of {self.run.night}" if self.run_id else f"{self.name} (not yet run)"

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


class ClientNight(models.Model):
    """A client's work of one step of one night, marked done in the same transaction as the work:
    a second run of the night skips it, a run killed half-way finishes the rest."""

    # No database constraint: a mark is the night's bookkeeping, not the client's data (deleted
    # with the client all the same, by Django); each night writes tens of thousands, and a
    # foreign key checked at commit per mark cost the worst night a tenth of a second.
    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    night = models.DateField()
    step = models.CharField(max_length=20)
    done_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The night first: a chunk asks which of its clients tonight's step has done, a range of the
        # index (empty on a first run), and tonight's marks are written side by side.
        constraints = [models.UniqueConstraint(fields=["night", "step", "client"], name="client_night_step_once")]

    def __str__(self) -> str:
        return f"client {self.client_id}: {self.step} of the night of {self.night}"


class DailySnapshot(models.Model):
    """The day's business figures as the night found them (one row per billing day; a second run
    of the same night rewrites its row): what the staff console's index reads, so that it costs a
    few queries whatever the number of clients (CMP-5: staff figures come from stored records).
    MRR follows TAR-3/TAR-4 and PER-1: an active PRO subscription's packages × its package price ÷
    the months of its period. Movements are month to date, in cents, each a positive amount:
    contraction and churn are what was lost. Written by `billing.snapshots.write_snapshot`."""

    day = models.DateField(help_text=_("The billing day whose night wrote it."))
    taken_at = models.DateTimeField(help_text=_("The instant the night ran as of."))
    run = models.ForeignKey(NightlyRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    clients_by_tariff = models.JSONField(default=dict, blank=True, help_text=_("{tariff: clients}, deleted accounts left out."))
    clients_by_state = models.JSONField(default=dict, blank=True, help_text=_("{state: clients}"))
    active_subscribers = models.PositiveIntegerField(default=0, help_text=_("Over all live projects (TAR-3)."))
    pro_subscriptions = models.PositiveIntegerField(default=0, help_text=_("Active PRO subscriptions."))
    mrr_cents = models.BigIntegerField(default=0)
    new_mrr_cents = models.BigIntegerField(default=0)
    expansion_mrr_cents = models.BigIntegerField(default=0)
    contraction_mrr_cents = models.BigIntegerField(default=0)
    churn_mrr_cents = models.BigIntegerField(default=0)
    reactivation_mrr_cents = models.BigIntegerField(default=0)
    charged_cents = models.BigIntegerField(default=0, help_text=_("Charged by that night's runs."))
    credited_cents = models.BigIntegerField(default=0, help_text=_("Credited by that night's runs."))
    failed_collections = models.PositiveIntegerField(default=0, help_text=_("Clients whose collection that night failed on every card (DUN-1)."))

    class Meta:
        ordering = ["-day"]
        verbose_name = _("daily snapshot")
        constraints = [models.UniqueConstraint(fields=["day"], name="daily_snapshot_once_a_day")]

    def __str__(self) -> str:
        return f"figures of {self.day}"


class ClientMonthMrr(models.Model):
    """A client's MRR in a month (its value at the latest night of that month), from which the
    month's MRR movements are computed. A client that paid last month and pays nothing now has a
    row of 0 this month (its churn). Written set-based by `billing.snapshots`."""

    # Bookkeeping of the figures, not the client's data: no database constraint to check per row.
    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    month = models.DateField(help_text=_("The first day of the month."))
    mrr_cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "month"], name="client_month_mrr_once")]
        indexes = [models.Index(fields=["month"], name="client_month_mrr_month")]

    def __str__(self) -> str:
        return f"client {self.client_id}: {self.mrr_cents}¢ MRR in {self.month:%Y-%m}"
