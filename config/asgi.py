"""ASGI entry point. Requests under /gateway/ go to the gateway's lean ASGI
application (gateway/proxy/server.py), which shares Django's settings and ORM but
skips its request machinery; everything else goes to Django."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from gateway.proxy.server import application as gateway_application  # noqa: E402  (needs Django set up)


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http" and scope["path"].startswith("/gateway/"):
        await gateway_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)


# Everything loaded by now (Django, the apps, the URL and settings modules:
# about 120,000 objects) lives as long as the process. A full collection
# scans them all, about 50 ms on this machine, stalling every request in
# flight; frozen, they are left out of every collection.
gc.freeze()
