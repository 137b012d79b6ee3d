from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("standards", "0002_default_standard")]
    operations = [
        migrations.AddField(
            model_name="standard",
            name="protocols",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="suiterequirement",
            name="threshold_max",
            field=models.FloatField(
                help_text="Highest acceptable upper end of the metric's 95% interval, pooled over the protocol's runs"
            ),
        ),
    ]
