#!/usr/bin/env bash
# Start a throwaway PostgreSQL server (Debian's packages) on the loopback interface and print
# the URL of a database for the store tests. Installs the server when it is missing.
# Usage: eval "$(bash .ci/postgres.sh)"   -> exports BO_HPO_TEST_POSTGRES_URL
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
fi
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
port=${BO_HPO_PG_PORT:-55432}
data=${BO_HPO_PG_DATA:-/tmp/bo_hpo_pg}
id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres >&2
if ! [ -s "$data/PG_VERSION" ]; then
  rm -rf "$data"; mkdir -p "$data"; chown postgres "$data"
  pw=$(mktemp); echo "ci-secret" > "$pw"; chown postgres "$pw"
  runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 \
    --pwfile="$pw" >/dev/null
  rm -f "$pw"
fi
if ! runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  mkdir -p /tmp/bo_hpo_pg_sock && chown postgres /tmp/bo_hpo_pg_sock
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp/bo_hpo_pg_sock" start >&2
fi
echo "export BO_HPO_TEST_POSTGRES_URL='postgresql+psycopg://postgres:ci-secret@127.0.0.1:$port/postgres'"
