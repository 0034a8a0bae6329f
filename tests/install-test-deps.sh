#!/usr/bin/env bash
# Install what the test suite needs when it is missing: PostgreSQL (Debian package, the system
# service is not started) and Synapse (PyPI, in its own venv). Idempotent; a second run only checks.
#
#   MSN_TEST_SYNAPSE_VENV   where Synapse lives (default ~/.cache/matrix-msn/synapse-venv)
#   MSN_TEST_PYTHON         the interpreter used to create that venv (default python3)
#   MSN_TEST_SYNAPSE_SPEC   the requirement installed (default: the pinned version below)
#   MSN_TEST_SKIP_BROWSER=1 do not install Chromium (the login-page test then fails with a hint)
#
# Chromium and its WebDriver (Debian's chromium and chromium-driver) drive the web login page in
# a real headless browser (tests/e2e/test_web.py); they are installed with apt when missing.
#
#   --synapse-only          install only Synapse (what `make demo` needs)
set -euo pipefail

SYNAPSE_ONLY=0
[ "${1:-}" = "--synapse-only" ] && SYNAPSE_ONLY=1

HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
VENV="${MSN_TEST_SYNAPSE_VENV:-$HOME/.cache/matrix-msn/synapse-venv}"
PYTHON="${MSN_TEST_PYTHON:-python3}"
# The Synapse the suite is tested against; raise it deliberately, not by accident.
SYNAPSE_PIN="1.163.2"
SPEC="${MSN_TEST_SYNAPSE_SPEC:-matrix-synapse==$SYNAPSE_PIN}"
PG_ROOT="${MSN_TEST_PG_ROOT:-/usr/lib/postgresql}"
export DEBIAN_FRONTEND=noninteractive

step() { printf 'install-test-deps: %s\n' "$*"; }
fail() {
	printf 'install-test-deps: ERROR: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

have_postgres() {
	compgen -G "$PG_ROOT/*/bin/initdb" >/dev/null && compgen -G "$PG_ROOT/*/bin/postgres" >/dev/null
}

have_synapse() {
	[ -x "$VENV/bin/python" ] && SYNAPSE_VERSION="$("$VENV/bin/python" -c 'import importlib.util as u, synapse
assert u.find_spec("synapse.app.homeserver")
print(synapse.__version__)' 2>/dev/null)"
}

# --- PostgreSQL ------------------------------------------------------------------------------
if [ "$SYNAPSE_ONLY" -eq 1 ]; then
	:
elif have_postgres; then
	step "PostgreSQL: found $(ls -d "$PG_ROOT"/*/bin | head -n 1)"
elif is_root && command -v apt-get >/dev/null 2>&1; then
	step "PostgreSQL: apt-get update"
	apt-get update -qq </dev/null
	step "PostgreSQL: apt-get install -y postgresql (the system service is not started)"
	# policy-rc.d stops the package scripts from starting the cluster service.
	policy=/usr/sbin/policy-rc.d
	created_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		created_policy=1
	fi
	apt_log="$(mktemp)"
	apt-get install -y -qq postgresql </dev/null >"$apt_log" 2>&1 || {
		[ "$created_policy" -eq 1 ] && rm -f "$policy"
		tail -n 30 "$apt_log" >&2
		fail "apt-get install postgresql failed (output above)"
	}
	rm -f "$apt_log"
	[ "$created_policy" -eq 1 ] && rm -f "$policy"
	have_postgres || fail "postgresql installed but no $PG_ROOT/*/bin/initdb found"
	step "PostgreSQL: installed $(ls -d "$PG_ROOT"/*/bin | head -n 1)"
else
	fail "PostgreSQL server binaries are missing (no $PG_ROOT/*/bin/initdb).
Install them as root, e.g.: sudo apt-get install -y postgresql
(or run this script as root to have it done for you)."
fi

# --- Synapse ---------------------------------------------------------------------------------
if have_synapse && { [ -n "${MSN_TEST_SYNAPSE_SPEC:-}" ] || [ "$SYNAPSE_VERSION" = "$SYNAPSE_PIN" ]; }; then
	step "Synapse: found $SYNAPSE_VERSION in $VENV"
else
	command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found; set MSN_TEST_PYTHON"
	if [ ! -x "$VENV/bin/python" ]; then
		step "Synapse: creating venv $VENV"
		mkdir -p "$(dirname "$VENV")"
		"$PYTHON" -m venv "$VENV" || fail "could not create a venv with $PYTHON (Debian: apt-get install python3-venv)"
	fi
	if [ ! -x "$VENV/bin/uv" ]; then
		step "Synapse: pip install uv into the venv"
		"$VENV/bin/python" -m pip install -q --disable-pip-version-check uv </dev/null ||
			fail "pip install uv failed"
	fi
	step "Synapse: uv pip install $SPEC"
	"$VENV/bin/uv" pip install --python "$VENV/bin/python" -q "$SPEC" </dev/null ||
		fail "uv pip install $SPEC failed"
	rm -f "$VENV/.msn-compiled"
	have_synapse || fail "Synapse installed but synapse.app.homeserver is not importable in $VENV"
	step "Synapse: installed $SYNAPSE_VERSION"
fi

# PYTHONDONTWRITEBYTECODE=1 machines would otherwise compile Synapse on every start (~5 s).
if [ ! -e "$VENV/.msn-compiled" ]; then
	step "Synapse: byte-compiling the venv once"
	site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -m compileall -q -j 0 "$site" >/dev/null 2>&1 || true
	touch "$VENV/.msn-compiled"
else
	step "Synapse: already byte-compiled"
fi

# --- Chromium + chromedriver (the web login page test) ---------------------------------------
have_browser() {
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1
}
if [ "${SYNAPSE_ONLY:-0}" -eq 1 ] || [ "${MSN_TEST_SKIP_BROWSER:-0}" = "1" ]; then
	:
elif have_browser; then
	step "Chromium: found $(command -v chromium) and $(command -v chromedriver)"
elif is_root && command -v apt-get >/dev/null 2>&1; then
	step "Chromium: apt-get update"
	apt-get update -qq </dev/null
	step "Chromium: apt-get install -y chromium chromium-driver"
	apt_log="$(mktemp)"
	apt-get install -y -qq --no-install-recommends chromium chromium-driver </dev/null >"$apt_log" 2>&1 || {
		tail -n 30 "$apt_log" >&2
		fail "apt-get install chromium chromium-driver failed (output above)"
	}
	rm -f "$apt_log"
	have_browser || fail "chromium-driver installed but chromium/chromedriver are not on PATH"
	step "Chromium: installed $(chromium --version 2>/dev/null || echo chromium)"
else
	fail "Chromium and chromedriver are missing (the web login page test drives a real browser).
Install them as root, e.g.: sudo apt-get install -y chromium chromium-driver
(or run this script as root to have it done for you, or set MSN_TEST_SKIP_BROWSER=1)."
fi
step "done"
