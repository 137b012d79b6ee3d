from django.db import migrations

from labs.catalogue import AFFORDANCES, EDGES


def load(apps, schema_editor):
    Affordance = apps.get_model("labs", "Affordance")
    AffordanceEdge = apps.get_model("labs", "AffordanceEdge")
    for key, name, description in AFFORDANCES:
        Affordance.objects.update_or_create(key=key, defaults={"name": name, "description": description})
    for source, target, rationale in EDGES:
        AffordanceEdge.objects.update_or_create(source_id=source, target_id=target, defaults={"rationale": rationale})


class Migration(migrations.Migration):
    dependencies = [("labs", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
