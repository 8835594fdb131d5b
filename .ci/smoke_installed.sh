#!/usr/bin/env bash
# Smoke test of the installed package, not the source tree: build a wheel, install it
# (non-editable) into a fresh virtual environment in a temporary directory, and from a
# directory outside the repository run `wfconsole db upgrade` against a new SQLite file
# and a new PostgreSQL database, then round-trip the contract example through
# import / export / list unchanged. Migrations must come from inside the installed package.
#
# Environment: PYTHON (default python3), TEST_POSTGRES_URL (admin connection, default
# postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
pg_admin="${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
work="$(mktemp -d "${TMPDIR:-/tmp}/wfconsole-smoke.XXXXXX")"
pg_name="wf_smoke_$$_${RANDOM}"
pg_created=""
venv="$work/venv"

step() { printf 'smoke: %s\n' "$*"; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }

pg_admin_sql() {  # pg_admin_sql "SQL" — run one statement on the admin connection
    "$venv/bin/python" - "$pg_admin" "$1" <<'PY'
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=5) as connection:
    connection.execute(sys.argv[2])
PY
}

cleanup() {
    if [ -n "$pg_created" ]; then
        pg_admin_sql "DROP DATABASE IF EXISTS \"$pg_name\" WITH (FORCE)" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Nothing of the developer's configuration or data may leak in.
unset WFCONSOLE_CONFIG DATABASE_URL DATABASE_READ_URL REDIS_URL REDIS_PASSWORD LOG_LEVEL \
    WORKFLOW_MAX_CONCURRENT_EXECUTIONS WORKFLOW_DEFAULT_TIMEOUT WORKFLOW_QUEUE_CONCURRENCY
while IFS='=' read -r name _; do
    case "$name" in WFCONSOLE_*) unset "$name" ;; esac
done < <(env)
export XDG_DATA_HOME="$work/data"

step "copying the project's own files"
mkdir -p "$work/src"
# Caches by exact name: a pattern like '.*_cache' also matched ./engine/workflow_cache (tar's
# wildcards match across '/'), and the wheel silently lost a package.
tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude='*.egg-info' --exclude=./build \
    --exclude=./dist --exclude='__pycache__' --exclude=./.pytest_cache --exclude=./.mypy_cache \
    --exclude=./.ruff_cache --exclude=./.hypothesis -cf - . | tar -C "$work/src" -xf -

step "a fresh virtual environment from requirements.lock (as make installs)"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes --only-binary :all: \
    -r "$work/src/requirements.lock"

step "building the wheel with the locked setuptools"
"$venv/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
    -w "$work/dist" "$work/src"
wheel=("$work"/dist/wfconsole-*.whl)
[ -f "${wheel[0]}" ] || fail "no wheel was built"

step "installing ${wheel[0]##*/} (no dependency beyond the lock)"
"$venv/bin/python" -m pip install --quiet --no-deps "${wheel[0]}"
wf="$venv/bin/wfconsole"

mkdir -p "$work/run"
cd "$work/run"  # outside the repository: the source tree cannot shadow the package

step "the installed package is imported, with its migrations inside it"
"$venv/bin/python" - "$venv" <<'PY'
import sys
from pathlib import Path

import engine
import engine.db
import migrations
import wfconsole

venv = Path(sys.argv[1]).resolve()
for module in (engine, wfconsole, migrations):
    where = Path(module.__file__).resolve()
    assert venv in where.parents, f"{module.__name__} imported from {where}, not {venv}"
versions = engine.db.MIGRATIONS_DIR / "versions"
assert venv in versions.resolve().parents, f"migrations at {versions}"
assert sorted(p.name for p in versions.glob("0*.py")), f"no revisions in {versions}"
assert (engine.db.MIGRATIONS_DIR / "env.py").is_file(), "env.py missing"
assert engine.db.head_revision() is not None, "no head revision"
import wfconsole.console.app

styles = sorted(Path(wfconsole.console.app.__file__).parent.rglob("*.tcss"))
assert len(styles) >= 18 and venv in styles[0].resolve().parents, f"console styles: {styles}"
PY

step "wfconsole --help"
"$wf" --help >/dev/null

example="$repo/examples/large-invoice-alert.json"
name="large-invoice-alert"

expect_output() {  # expect_output PATTERN COMMAND… — run, require success and PATTERN in stdout
    local pattern=$1 output
    shift
    output="$("$@")" || fail "'$*' exited with $?"
    grep -q -- "$pattern" <<<"$output" || fail "'$*' printed '$output', expected '$pattern'"
}

round_trip() {  # round_trip LABEL URL
    local label=$1 url=$2 config="$work/run/$1.toml"
    printf '[database]\nurl = "%s"\n' "$url" >"$config"

    step "$label: db upgrade on a new database"
    expect_output "upgraded from an empty database" "$wf" db upgrade --config "$config"
    expect_output "already at revision" "$wf" db upgrade --config "$config"

    step "$label: validate / import / export / list"
    expect_output ": ok ($name)" "$wf" workflow validate "$example" --config "$config"
    expect_output "$name: created (version 1)" "$wf" workflow import "$example" --config "$config"
    expect_output "$name: unchanged (version 1)" "$wf" workflow import "$example" --config "$config"
    "$wf" workflow export "$name" -o "$work/run/$label-export.json" --config "$config"
    "$venv/bin/python" - "$example" "$work/run/$label-export.json" <<'PY'
import json
import sys

original, exported = (json.load(open(path, encoding="utf-8")) for path in sys.argv[1:3])
assert original == exported, "export differs from the imported file"
PY
    expect_output "$name" "$wf" workflow list --config "$config"

    step "$label: a malformed file is one line on stderr, no traceback"
    printf '{"name": "bad", "triggers": [{"type": "manual"}], "actions": []}' >"$work/run/bad.json"
    local status=0 errors
    errors="$("$wf" workflow import "$work/run/bad.json" --config "$config" 2>&1 >/dev/null)" \
        || status=$?
    [ "$status" -eq 1 ] || fail "bad import exited with $status"
    [ "$(wc -l <<<"$errors")" -eq 1 ] || fail "bad import printed: $errors"
    grep -q "actions: must not be empty" <<<"$errors" || fail "bad import printed: $errors"
}

round_trip sqlite "sqlite:///$work/run/new.db"

step "creating PostgreSQL database $pg_name"
pg_admin_sql "CREATE DATABASE \"$pg_name\""
pg_created=1
pg_url="$("$venv/bin/python" -c 'import sys
from sqlalchemy.engine import make_url
print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' \
    "$pg_admin" "$pg_name")"
round_trip postgres "$pg_url"

step "ok"
