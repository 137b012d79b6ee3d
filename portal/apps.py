from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The regulator's portal: server-rendered pages over the same selectors
    and services as the API. It sits above every domain app (like demo/) and
    writes nothing itself."""

    name = "portal"
    verbose_name = "Regulator's portal"
