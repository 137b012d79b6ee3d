"""Bounds on one call (reliability issue, item 6): the most output tokens
(max_tokens and its aliases) and choices (n) a token's call may ask for;
existing tokens get the defaults."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auditing', '0003_findings_keys_signoffs'),
        ('core', '0002_audit_event_append_only'),
        ('gateway', '0003_usage_clamped_and_quarantine'),
        ('labs', '0002_affordance_catalogue'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='gatewaytoken',
            name='max_n',
            field=models.PositiveIntegerField(default=8, help_text='The most choices (n) one call may ask for'),
        ),
        migrations.AddField(
            model_name='gatewaytoken',
            name='max_output_tokens',
            field=models.PositiveIntegerField(default=8192, help_text='The most output tokens one call may ask for (max_tokens and its aliases)'),
        ),
        migrations.AddConstraint(
            model_name='gatewaytoken',
            constraint=models.CheckConstraint(condition=models.Q(('max_output_tokens__gt', 0)), name='gateway_token_max_output_tokens_positive'),
        ),
        migrations.AddConstraint(
            model_name='gatewaytoken',
            constraint=models.CheckConstraint(condition=models.Q(('max_n__gt', 0)), name='gateway_token_max_n_positive'),
        ),
    ]
