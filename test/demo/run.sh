#!/usr/bin/env bash
# test/demo/run.sh: the `make demo` walk-through.  Starts a throwaway cluster
# with ar preloaded, runs demo.sql on generated data and prints its report.
# AR_DEMO_QUIET=1 keeps the report to a file (used by `make test` as a smoke
# test of the whole cycle).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

TMP=$(mktemp -d /tmp/ar-demo.XXXXXX)
trap 'cluster_stop; rm -rf "$TMP"' EXIT
cluster_start "$TMP/pg"
make_db ar_demo

out=/dev/stdout
[ -n "${AR_DEMO_QUIET:-}" ] && out=$TMP/report.txt
psql -X -q -v ON_ERROR_STOP=1 -d ar_demo -P pager=off -P footer=off \
	-f "$AR_ROOT/test/demo/demo.sql" >"$out"
