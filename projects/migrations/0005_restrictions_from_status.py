"""Each project suspended or locked before its reasons stacked (PRJ-2) gets the reason it stood
for, and each project waiting for review or refused its industry review's, so that lifting one
later leaves the others."""

from django.db import migrations


def forwards(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    Restriction = apps.get_model("projects", "ProjectRestriction")
    Complaint = apps.get_model("compliance", "Complaint")
    rows = []
    for project in Project.objects.filter(deleted_at__isnull=True).select_related("owner").iterator():
        if project.status == "locked":
            rows.append(Restriction(project=project, reason="billing_lock"))
        elif project.status == "suspended":
            complaints = list(Complaint.objects.filter(project_id=project.pk, kind="spam", status="open").values_list("pk", flat=True))
            if project.owner.status in ("suspended", "blocked") and project.owner.block_reason in ("", "billing"):
                rows.append(Restriction(project=project, reason="dunning"))
            rows += [Restriction(project=project, reason="complaint", ref=f"complaint:{pk}") for pk in complaints]
            if not complaints and project.owner.status == "active":
                rows.append(Restriction(project=project, reason="staff", note="Suspended before reasons were kept."))
        if project.review in ("pending", "refused"):
            rows.append(Restriction(project=project, reason="industry_review"))
            if project.status == "active":
                Project.objects.filter(pk=project.pk).update(status="suspended")
    Restriction.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("projects", "0004_project_restriction"), ("compliance", "0013_complaint_matched")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
