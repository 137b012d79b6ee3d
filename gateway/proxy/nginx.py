"""The nginx data plane's configuration: nginx in front of the Python
workers, carrying ``POST /gateway/v1/chat/completions`` itself with the Lua
in gateway/nginx/ (LuaJIT, Debian's nginx-extras) and asking the hook
processes (gateway/proxy/hook.py) every rule; every other request goes to the
workers unchanged. ``python -m config.serve --data-plane nginx`` runs it, as
tests/gateway/planes.py does for the gateway's tests.

Needs Debian's ``nginx-extras`` (nginx with the Lua and headers-more
modules), ``lua-cjson`` and ``lua-nginx-string``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "gateway" / "nginx"
MODULES = Path(os.environ.get("STAGEGATE_NGINX_MODULES", "/usr/lib/nginx/modules"))
# The dynamic modules the plane needs, in load order (ndk before lua).
NEEDED = ("ndk_http_module", "ngx_http_lua_module", "ngx_http_headers_more_filter_module")


class NginxMissing(RuntimeError):
    """nginx with the modules the plane needs is not installed."""


def binary() -> str:
    """nginx, with the modules the plane needs (NginxMissing says what to install)."""
    found = os.environ.get("STAGEGATE_NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        raise NginxMissing("nginx is not installed (apt-get install nginx-extras lua-cjson lua-nginx-string)")
    missing = [m for m in NEEDED if not (MODULES / f"{m}.so").exists()]
    if missing:
        raise NginxMissing(f"nginx lacks {', '.join(missing)} (apt-get install nginx-extras)")
    if not any(Path("/usr/lib").glob("*/lua/5.1/cjson.so")) and not Path("/usr/lib/lua/5.1/cjson.so").exists():
        raise NginxMissing("LuaJIT lacks cjson (apt-get install lua-cjson)")
    if not Path("/usr/share/lua/5.1/nginx/sha256.lua").exists():
        raise NginxMissing("LuaJIT lacks nginx.sha256 (apt-get install lua-nginx-string)")
    return found


def preamble() -> str:
    """The lines every nginx running the plane's Lua starts with: its dynamic
    modules and, started as root, the user its workers run as (nginx would
    run them as nobody, who could not open the hook sockets, 0600: the plans
    carry the labs' credentials; started by anyone else, nginx cannot change
    user and none is given)."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return "".join(f"load_module {MODULES / m}.so;\n" for m in NEEDED) + user


def config(state: Path, listen: str, python: str, hooks: list[str], workers: int, ca_file: str | None = None) -> Path:
    """Write nginx.conf for the plane into ``state`` (a private directory:
    its temp files may hold request bodies) and return its path.
    ``listen``: host:port for callers; ``python``: host:port of the workers;
    ``ca_file``: the CAs https upstreams are checked against (certifi's, as
    on the Python path, unless given)."""
    for sub in ("body", "proxy", "spare"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    max_request = int(settings.STAGEGATE_GATEWAY_MAX_REQUEST_BYTES)
    import certifi

    setup = json.dumps({"hooks": hooks})
    text = f"""{preamble()}
worker_processes {workers};
daemon off;
master_process on;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
worker_shutdown_timeout 60s;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  server_tokens off;
  more_clear_headers Server;
  merge_slashes off;
  default_type "";
  client_body_temp_path {state}/body;
  proxy_temp_path {state}/proxy;
  fastcgi_temp_path {state}/spare;
  uwsgi_temp_path {state}/spare;
  scgi_temp_path {state}/spare;
  lua_package_path "{LUA}/?.lua;/usr/share/lua/5.1/?.lua;;";
  lua_ssl_trusted_certificate {ca_file or certifi.where()};
  lua_ssl_verify_depth 8;
  lua_check_client_abort on;
  lua_socket_log_errors off;
  lua_max_pending_timers 65536;
  lua_max_running_timers 16384;
  init_by_lua_block {{ require("sg_plane").setup(require("cjson").decode({json.dumps(setup)})) }}
  init_worker_by_lua_block {{ require("sg_plane").start() }}
  upstream python {{
    server {python};
    keepalive 64;
  }}
  server {{
    listen {listen} reuseport backlog=2048;
    location = /gateway/v1/chat/completions {{
      client_max_body_size {max_request};
      client_body_buffer_size {max_request + 1};
      client_body_in_single_buffer on;
      error_page 413 = @too_large;
      content_by_lua_block {{ require("sg_plane").chat() }}
    }}
    location @too_large {{
      content_by_lua_block {{ require("sg_plane").too_large() }}
    }}
    location / {{
      proxy_pass http://python;
      include {state}/python.conf;
    }}
    location @python {{
      proxy_pass http://python$request_uri;
      include {state}/python.conf;
    }}
  }}
}}
"""
    (state / "python.conf").write_text(
        "proxy_http_version 1.1;\n"
        'proxy_set_header Connection "";\n'
        "proxy_set_header Host $http_host;\n"
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "proxy_buffering off;\n"
        "proxy_request_buffering off;\n"
        "proxy_read_timeout 3600s;\n"
        "proxy_send_timeout 3600s;\n"
        "client_max_body_size 0;\n"
    )
    path = state / "nginx.conf"
    path.write_text(text)
    return path


def command(conf: Path) -> list[str]:
    """The command that runs the plane in the foreground."""
    return [binary(), "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log")]
