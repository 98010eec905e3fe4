"""The first version of the Terms of Use and the Privacy Policy, so that registration can ask for
their acceptance from the first start (ACC-1). Staff publish later versions in the admin."""

from django.db import migrations
from django.utils import timezone

TERMS = """These Terms of Use govern the use of the platform by its clients.

1. Registration. A client registers with a name, an email and a password, or through Google, Facebook or Twitter, accepts these Terms and the Privacy Policy, and confirms being 16 or older.
2. Tariffs. Every new client starts on the Free tariff: up to 500 active subscribers over all of its projects, and two projects. Beyond that the client activates PRO, paid in packages of 1,000 subscribers for a monthly, quarterly or yearly period.
3. Payments. Fees are taken from the client's wallet first and from its card for the rest. Unused time and duplicate payments are credited to the wallet.
4. Blocking. An account that passes the Free limit, leaves fees unpaid, or breaks these Terms may be suspended or blocked.
5. Access. A client who loses access may ask support to restore it, with proof that the account is theirs.
"""

PRIVACY = """This Privacy Policy says what personal data the platform keeps and why.

1. What we keep: the client's name, email, sign-in history, the consents it gave, its projects' subscribers, and the gateway's token for its card (never the card number).
2. Why: to provide the service, bill for it, keep it secure, and meet legal duties.
3. Your rights: access, rectification, erasure, restriction, objection and portability. We answer within one month.
4. Retention: we keep data while the account exists, and afterwards only what tax, accounting or an open dispute requires.
"""


def publish(apps, schema_editor):
    LegalDocument = apps.get_model("compliance", "LegalDocument")
    now = timezone.now()
    for kind, title, body in (("terms", "Terms of Use", TERMS), ("privacy", "Privacy Policy", PRIVACY)):
        LegalDocument.objects.get_or_create(kind=kind, version="1.0", defaults={"title": title, "body": body, "published_at": now})


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]
    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
