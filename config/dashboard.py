"""The staff console's index (issue 16): the figures staff start the day with, each a link to the
admin list it counts. Read from the night's snapshot (`billing.snapshots`, CMP-5) and a few live
counts on indexed columns, so the page costs the same queries for 10 clients or 100,000. The
charts are drawn here as inline SVG geometry (nothing loads from a CDN; no script needed)."""

import datetime
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Client, Restriction
from billing import snapshots
from billing.models import NightlyRun, PaymentAttempt
from compliance.models import Complaint, Incident, PrivacyRequest
from core.clock import billing_date, billing_zone
from core.money import local_dollars
from projects.models import Project

CHART_DAYS = 90
CHART_MONTHS = 4  # the months the 90 days touch
SOON_DAYS = 5  # as the deadline filters of compliance/admin.py
CHART_W, CHART_H = 900, 160
MOVEMENT_COLOURS = {"new": "#16a34a", "expansion": "#0d9488", "reactivation": "#2563eb", "contraction": "#f59e0b", "churn": "#dc2626"}


def _list(name: str, **params) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _bars(values: list[tuple[str, int]]) -> dict:
    """Bars for a day series: (label, value) → rects in a CHART_W × CHART_H box."""
    top = max((v for _label, v in values), default=0) or 1
    width = CHART_W / max(len(values), 1)
    bars = [{"x": round(i * width, 2), "w": round(max(width - 1, 1), 2), "h": round(v / top * CHART_H, 2),
             "y": round(CHART_H - v / top * CHART_H, 2), "label": label, "value": v} for i, (label, v) in enumerate(values)]
    return {"bars": bars, "max": max((v for _label, v in values), default=0), "first": values[0][0] if values else "",
            "last": values[-1][0] if values else "", "w": CHART_W, "h": CHART_H}


def _movement_chart(months: list[dict]) -> dict:
    """Stacked bars per month around a zero line: new, expansion, reactivation up; contraction
    and churn down (in cents, drawn to the largest side)."""
    ups, downs = ("new", "expansion", "reactivation"), ("contraction", "churn")
    top = max([sum(m[k] for k in ups) for m in months] + [sum(m[k] for k in downs) for m in months] + [1])
    half = CHART_H / 2
    slot = CHART_W / max(len(months), 1)
    columns = []
    for i, month in enumerate(months):
        x, w, parts, up, down = round(i * slot + slot * 0.2, 2), round(slot * 0.6, 2), [], 0.0, 0.0
        for key in ups:
            h = month[key] / top * half
            parts.append({"key": key, "x": x, "w": w, "y": round(half - up - h, 2), "h": round(h, 2), "colour": MOVEMENT_COLOURS[key],
                          "title": f"{month['month']:%Y-%m} {key}: {local_dollars(month[key])}"})
            up += h
        for key in downs:
            h = month[key] / top * half
            parts.append({"key": key, "x": x, "w": w, "y": round(half + down, 2), "h": round(h, 2), "colour": MOVEMENT_COLOURS[key],
                          "title": f"{month['month']:%Y-%m} {key}: -{local_dollars(month[key])}"})
            down += h
        columns.append({"parts": [p for p in parts if p["h"] > 0], "label": f"{month['month']:%Y-%m}", "lx": round(i * slot + slot / 2, 2)})
    return {"columns": columns, "w": CHART_W, "h": CHART_H, "half": half}


def _today_bounds(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(billing_date(now), datetime.time(0), tzinfo=billing_zone())
    return start, start + datetime.timedelta(days=1)


def index(request, context: dict) -> dict:
    """Unfold's DASHBOARD_CALLBACK: the day's figures for `templates/admin/index.html`."""
    now = timezone.now()
    today = billing_date(now)
    snapshot = snapshots.latest_snapshot()
    series = list(snapshots.snapshots_since(today - datetime.timedelta(days=CHART_DAYS - 1)))
    months = snapshots.mrr_by_month(CHART_MONTHS, until=snapshot.day) if snapshot else []
    last_run = NightlyRun.objects.filter(dry_run=False).order_by("-started_at", "-id").first()

    payments = PaymentAttempt.objects.filter(status__in=[PaymentAttempt.Status.UNKNOWN, PaymentAttempt.Status.SUCCEEDED]).aggregate(
        unknown=Count("pk", filter=Q(status=PaymentAttempt.Status.UNKNOWN)),
        unbooked=Count("pk", filter=Q(status=PaymentAttempt.Status.SUCCEEDED)))
    soon = today + datetime.timedelta(days=SOON_DAYS)

    def deadlines(model) -> dict:
        return model.objects.filter(status="open").aggregate(
            open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=today)),
            soon=Count("pk", filter=Q(due_at__gte=today, due_at__lte=soon)))

    privacy, complaints = deadlines(PrivacyRequest), deadlines(Complaint)
    incidents = Incident.objects.filter(notified_at__isnull=True, discovered_at__lt=now - datetime.timedelta(hours=48)).aggregate(
        past=Count("pk", filter=Q(discovered_at__lt=now - datetime.timedelta(hours=72))),
        near=Count("pk", filter=Q(discovered_at__gte=now - datetime.timedelta(hours=72))))
    reviews = Project.objects.filter(review=Project.Review.PENDING).count()
    start, end = _today_bounds(now)
    ending = Restriction.objects.filter(lifted_at__isnull=True, ends_at__gte=start, ends_at__lt=end).count()

    figures = {
        "snapshot": snapshot,
        "tariffs": [{"label": label, "n": (snapshot.clients_by_tariff if snapshot else {}).get(value, 0),
                     "link": _list("accounts_client", tariff__exact=value, is_staff__exact=0)} for value, label in Client.Tariff.choices],
        "states": [{"label": label, "n": (snapshot.clients_by_state if snapshot else {}).get(value, 0),
                    "link": _list("accounts_client", status__exact=value, is_staff__exact=0)} for value, label in Client.Status.choices],
        "mrr_link": _list("billing_subscription", status__exact="active"),
        "subscribers_link": _list("projects_subscriber", status__exact="active"),
        "last_run": last_run,
        "last_run_link": reverse("admin:billing_nightlyrun_change", args=[last_run.pk]) if last_run else "",
        "runs_link": _list("billing_nightlyrun", dry_run__exact=0),
        "last_run_failures": sum(step.get("failures", 0) for step in (last_run.report or {}).get("totals", {}).values()) if last_run else 0,
        "failed_link": _list("billing_paymentattempt", status__exact="failed", kind__exact="charge"),
        "payments": payments,
        "unknown_link": _list("billing_paymentattempt", status__exact="unknown"),
        "unbooked_link": _list("billing_paymentattempt", status__exact="succeeded"),
        "privacy": privacy, "complaints": complaints,
        "privacy_links": {"open": _list("compliance_privacyrequest", status__exact="open"),
                          "overdue": _list("compliance_privacyrequest", deadline="overdue"),
                          "soon": _list("compliance_privacyrequest", deadline="soon")},
        "complaint_links": {"open": _list("compliance_complaint", status__exact="open"),
                            "overdue": _list("compliance_complaint", deadline="overdue"),
                            "soon": _list("compliance_complaint", deadline="soon")},
        "incidents": incidents,
        "incident_links": {"past": _list("compliance_incident", notice="past"), "near": _list("compliance_incident", notice="near")},
        "reviews": reviews, "reviews_link": _list("projects_project", review__exact="pending"),
        "ending": ending,
        "ending_link": _list("accounts_restriction", lifted_at__isempty=1, ends_at__gte=start.isoformat(), ends_at__lt=end.isoformat()),
        "subscribers_chart": _bars([(f"{s.day:%Y-%m-%d}", s.active_subscribers) for s in series]),
        "failed_chart": _bars([(f"{s.day:%Y-%m-%d}", s.failed_collections) for s in series]),
        "mrr_months": months,
        "mrr_chart": _movement_chart(months),
        "movement_colours": MOVEMENT_COLOURS,
        "chart_days": CHART_DAYS,
    }
    context.update({"dashboard": figures, "subtitle": _("Today's figures")})
    return context
