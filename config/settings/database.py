from __future__ import annotations

from config.settings.env import PRODUCTION, STATE_DIR, env

# PostgreSQL via DATABASE_URL in production, CI and tests; a SQLite file in
# STATE_DIR as the zero-configuration development default.
if "DATABASE_URL" in env.ENVIRON or PRODUCTION:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
else:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(STATE_DIR / "stagegate.sqlite3")}}

DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL plus a busy timeout lets the web server and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
