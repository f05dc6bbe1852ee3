#!/usr/bin/env bash
# test/t/kpi_refresh.sh: ar.refresh_kpis() does not block readers.
#
# Session A refreshes the KPIs in a transaction that stays open for a few
# seconds after the refresh (it holds the materialized views' locks until
# it ends).  Meanwhile session B, with lock_timeout 2s, reads ar.kpi_aging
# and ar.kpi_monthly: it must get the rows of the previous refresh at once.
# After A commits, B sees the new rows.  (A plain REFRESH MATERIALIZED VIEW
# takes an ACCESS EXCLUSIVE lock: B would fail with a lock timeout.)
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_kpi_refresh

test_cluster kpi
setup_books
sql >/dev/null <<'SQL' || fail "setup of the invoices failed"
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date)
SELECT 1, g, 'SEK', ar.today(1) - 40 FROM generate_series(1, 4) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT i.id, 1, 'Konsult', 1, 1000, 25 FROM ar.invoice i;
SELECT count(*) FROM ar.issue(ARRAY(SELECT id FROM ar.invoice ORDER BY id));
SELECT ar.refresh_kpis();
-- four more customers get an invoice after the first refresh
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date)
SELECT 1, g, 'SEK', ar.today(1) - 10 FROM generate_series(5, 8) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT i.id, 1, 'Konsult', 1, 1000, 25 FROM ar.invoice i WHERE i.status = 'draft';
SELECT count(*) FROM ar.issue(ARRAY(SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id));
SQL
[ "$(sql -c "SELECT count(*) FROM ar.kpi_aging")" = 4 ] || fail "the first refresh did not store 4 aging rows"

echo "session A refreshes and keeps its transaction open"
sql -c "BEGIN" -c "SELECT ar.refresh_kpis()" -c "SELECT pg_sleep(6)" -c "COMMIT" >"$TMP/a.out" 2>&1 &
apid=$!
held=0
for _ in $(seq 1 100); do
	held=$(sql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
				   WHERE c.relname = 'kpi_monthly_mv' AND l.mode = 'ExclusiveLock' AND l.granted")
	[ "$held" -ge 1 ] && break
	sleep 0.1
done
[ "$held" -ge 1 ] || fail "session A never held the refresh's lock"

echo "session B reads meanwhile"
out=$(sql -c "SET lock_timeout = '2s'" \
	-c "SELECT (SELECT count(*) FROM ar.kpi_aging) || ' ' || (SELECT count(*) FROM ar.kpi_monthly)") \
	|| fail "a reader was blocked by the refresh"
months=$(sql -c "SELECT count(*) FROM generate_series(date_trunc('month', ar.today(1) - 40), date_trunc('month', ar.today(1)), '1 month')")
[ "$out" = "4 $months" ] || fail "a reader saw '$out' during the refresh, not the previous rows (4 $months)"
kill -0 "$apid" 2>/dev/null || fail "session A ended before the reader read: the test proves nothing"
say "reader got the previous rows ($out) while the refresh was open"

wait "$apid" || { cat "$TMP/a.out"; fail "session A failed"; }
out=$(sql -c "SELECT (SELECT count(*) FROM ar.kpi_aging) || ' ' || (SELECT sum(total) FROM ar.kpi_aging)")
[ "$out" = "8 10000.00" ] || fail "after the refresh a reader saw '$out', not 8 10000.00"
say "after commit: $out"
echo "ok"
