"""Tokens record when their holder took them up. Every token issued before this
was handed to its issuer with its secret, so it counts as accepted then."""

from django.db import migrations, models
from django.db.models import F


def accepted_when_issued(apps, schema_editor):
    GatewayToken = apps.get_model("gateway", "GatewayToken")
    GatewayToken.objects.filter(accepted_at__isnull=True).update(accepted_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [("gateway", "0004_call_bounds")]

    operations = [
        migrations.AddField(
            model_name="gatewaytoken",
            name="accepted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(accepted_when_issued, migrations.RunPython.noop),
    ]
