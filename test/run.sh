#!/usr/bin/env bash
# test/run.sh: everything `make test` runs, against a throwaway cluster with
# ar preloaded.  Prints a last line "N passed, M failed"; exits non-zero on
# any failure and shows the diffs.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$AR_ROOT"

TMP=$(mktemp -d /tmp/ar-test.XXXXXX)
trap 'cluster_stop; rm -rf "$TMP"' EXIT
cluster_start "$TMP/pg" || exit 1

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

echo "== pg_regress"
make -s --no-print-directory installcheck PG_CONFIG="$PG_CONFIG" >"$TMP/regress.out" 2>&1
rc=$?
cat "$TMP/regress.out"
n_ok=$(grep -cE '^(ok|test) .*\.\.\. ok|^ok [0-9]+ ' "$TMP/regress.out" || true)
n_bad=$(grep -cE '^not ok [0-9]+ |\.\.\. FAILED' "$TMP/regress.out" || true)
if [ $rc -ne 0 ]; then
	[ -f regression.diffs ] && cat regression.diffs
	[ "$n_bad" -eq 0 ] && n_bad=1
fi
count "$n_ok" "$n_bad"

echo "== pgTAP"
psql -X -q -d postgres -c "CREATE DATABASE ar_tap" >/dev/null
psql -X -q -d ar_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION ar" >/dev/null
pg_prove -v -d ar_tap test/*.sql >"$TMP/tap.out" 2>&1
rc=$?
n_ok=$(grep -cE '^ok [0-9]+' "$TMP/tap.out" || true)
n_bad=$(grep -cE '^not ok [0-9]+' "$TMP/tap.out" || true)
grep -vE '^ok [0-9]+' "$TMP/tap.out"
[ $rc -ne 0 ] && [ "$n_bad" -eq 0 ] && n_bad=1
count "$n_ok" "$n_bad"

for t in test/t/*.sh; do
	[ -e "$t" ] || continue
	echo "== $t"
	if bash "$t"; then count 1 0; else echo "FAILED: $t"; count 0 1; fi
done

echo "== demo (smoke test)"
if AR_DEMO_QUIET=1 bash test/demo/run.sh >"$TMP/demo.out" 2>&1; then
	count 1 0
else
	cat "$TMP/demo.out"; echo "FAILED: demo"; count 0 1
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
