"""What compliance tells the other apps, without knowing them (DESIGN.md): they connect here."""

from django.dispatch import Signal

# A spam complaint about a project arrived: its sending stops until staff decide (CMP-4, ToU 21.7).
spam_complaint_received = Signal()  # project_id, complaint_id
# Staff decided a spam complaint; `upheld` False lets the project send again.
spam_complaint_decided = Signal()  # project_id, complaint_id, upheld
