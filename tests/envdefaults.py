"""Loaded as a pytest plugin (-p) before Django is configured: test defaults for
the environment. DATABASE_URL and REDIS_URL come from scripts/test or the caller."""

import os

os.environ.setdefault("STAGEGATE_ENV", "test")
