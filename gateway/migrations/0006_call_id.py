"""Access-log rows carry the call id the gateway gives each call, so an entry
stored again (a gateway replaying its spool after Redis lost its data) is
skipped. Rows stored before have none."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0005_token_accepted_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='gatewaycall',
            name='call_id',
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name='gatewaycall',
            constraint=models.UniqueConstraint(fields=('call_id', 'token'), name='gateway_call_once_per_call_id'),
        ),
    ]
