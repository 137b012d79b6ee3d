from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Model-access gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway.proxy.grantcache import connect_signals

        # Writes that can change a grant bump the gateway's grant epoch on commit.
        connect_signals()
