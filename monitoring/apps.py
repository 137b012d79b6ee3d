from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring (incidents and whistleblower reports)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The stage-3 gate's incident item is monitoring's rule: deploy (below)
        # asks it through this registration, never by reading incidents.
        from deploy.gates import gate_item_register
        from monitoring.gates import CODE, unresolved_serious_incident_item

        gate_item_register(code=CODE, check=unresolved_serious_incident_item)
