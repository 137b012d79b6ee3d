"""The help texts name the data plane modules where they now live (gateway/proxy/,
issue 17). No schema change."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0007_call_attestation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='gatewaycall',
            name='attestation',
            field=models.CharField(blank=True, help_text="What the lab's endpoint claimed served the call, against the audited digests (gateway/proxy/audited.py): match, mismatch, malformed or absent; empty when no upstream answered", max_length=16),
        ),
        migrations.AlterField(
            model_name='gatewaycall',
            name='usage_clamped',
            field=models.BooleanField(default=False, help_text='The upstream reported usage that was not a plausible count (negative, not an integer, unreadable, or above the ceiling); the counts above were clamped (gateway/proxy/usage.py)'),
        ),
    ]
