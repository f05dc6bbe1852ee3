#!/usr/bin/env bash
# test/demo/run.sh: the `make demo` walk-through.  Starts a throwaway cluster
# with ar preloaded, runs demo.sql on generated data and prints its report,
# then checks one queued Peppol invoice and one credit note with the official
# validator (../shared/einv/validate-ubl) when it is there.
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

VALIDATE=${AR_VALIDATE_UBL:-$AR_ROOT/../shared/einv/validate-ubl}
if [ -x "$VALIDATE" ]; then
	{
		echo
		echo "10. The official validator (OASIS UBL 2.1 XSD, EN 16931, Peppol BIS 3.0) on one"
		echo "   queued Peppol invoice and the queued credit note:"
		psql -X -q -A -t -d ar_demo \
			-c "SELECT payload FROM ar.outbox WHERE channel = 'peppol' ORDER BY id LIMIT 1" >"$TMP/invoice.xml"
		psql -X -q -A -t -d ar_demo \
			-c "SELECT payload FROM ar.outbox WHERE channel = 'peppol' AND kind = 'credit_note' ORDER BY id LIMIT 1" >"$TMP/credit_note.xml"
		"$VALIDATE" "$TMP/invoice.xml" "$TMP/credit_note.xml" 2>&1 | sed 's/^/   /'
	} >>"$out"
fi
{ echo; echo "Demo complete."; } >>"$out"
