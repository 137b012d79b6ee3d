from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "deploy"
    verbose_name = "Staged release"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A sign-off binds the suite evidence exactly as the gate reads it;
        # auditing (below) asks for it through this registration.
        from auditing.selectors import suite_results_register
        from deploy.gates import suite_evidence_bound

        suite_results_register(suite_evidence_bound)
