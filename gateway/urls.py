"""The OpenAI-compatible surface (/gateway/v1/chat/completions, /gateway/v1/models)
is served by gateway.proxy.server.GatewayApp, which config/asgi.py dispatches to by
path prefix before Django's request machinery. Nothing is routed here: under
WSGI or Django's test client these paths answer 404."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
