"""Deployed as audited: each access-log row records the release's stage the
call was admitted at and what the lab's endpoint attested served it
(gateway/audited.py), with an index for monitoring's sweep of the calls an
endpoint did not attest from stage 2. Rows stored before read as stage 0 with
no attestation."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0006_call_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="gatewaycall",
            name="release_stage",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="The release's stage the grant admitted the call at"
            ),
        ),
        migrations.AddField(
            model_name="gatewaycall",
            name="attestation",
            field=models.CharField(
                blank=True,
                help_text="What the lab's endpoint claimed served the call, against the audited digests "
                "(gateway/audited.py): match, mismatch, malformed or absent; empty when no upstream answered",
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="gatewaycall",
            index=models.Index(
                condition=models.Q(("release_stage__gte", 2), models.Q(("attestation__in", ["", "match"]), _negated=True)),
                fields=["system_version", "created_at"],
                name="gateway_call_not_attested",
            ),
        ),
    ]
