"""On PostgreSQL the database refuses to update or delete KYC reviews, so the
history of the regulator's decisions cannot be rewritten."""

from django.db import migrations

from core.migration_ops import refuse_changes


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("core", "0002_audit_event_append_only"),  # defines stagegate_refuse_change()
    ]
    operations = [refuse_changes("customers_kycreview")]
