#!/usr/bin/env bash
# Installs the peers `twosafe bench` measures beside twosafe: PostgreSQL 15 (streaming
# replication with a synchronous standby, pgbench) and Redis (primary + replica, WAIT), from
# Debian's packages. The bench starts and stops them itself, on loopback, in a temporary
# directory; the packages' own services are stopped so they hold no port or CPU.
# Needs root (or sudo). Prints what it could not install; the bench then reports that peer as
# skipped with the reason.
set -uo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    echo "peers.sh: could not install ${missing[*]}; those peers will be reported as skipped" >&2
  fi
fi
# The packages start their own servers on the default ports; the bench does not use them.
$SUDO service postgresql stop >/dev/null 2>&1 || true
$SUDO service redis-server stop >/dev/null 2>&1 || true
[ -x /usr/lib/postgresql/15/bin/postgres ] && /usr/lib/postgresql/15/bin/postgres --version
command -v redis-server >/dev/null 2>&1 && redis-server --version
exit 0
