#!/usr/bin/env bash
# test/t/line_race.sh: lines written while their invoice is being issued.
# The line trigger locks the invoice (FOR SHARE) and ar.issue locks it (FOR
# UPDATE) before it reads the lines, so one waits for the other:
#   1. session A changes a draft's line and holds its transaction open;
#      session B issues the draft, waits, and then totals the changed line;
#   2. session A issues a draft and holds its transaction open; session B
#      changes its line, waits, and is then refused; the line is unchanged.
# Without the locks, both cases issued totals that the lines do not add up
# to.  Part 3 does the same for a sales order being delivered: a line added
# meanwhile waits and is refused.  Parts 4 and 5: a line written first, and
# the issue (or delivery) under REPEATABLE READ, whose snapshot cannot see
# that line: 40001, never totals without it.  Part 6: a series changed
# while its first number is given out waits and is refused.  Parts 7 and 8:
# the other way round, an issue that read the series before a change of it
# committed numbers with the new pattern (7), or fails with 40001 when the
# reset changed (8).
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_line_race

test_cluster line-race
setup_books
sql >/dev/null <<'SQL' || fail "setup of the drafts failed"
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date) VALUES
	(1, 1, 'SEK', '2026-11-02'), (1, 1, 'SEK', '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (1, 1, 'Konsult', 1, 100, 25), (2, 1, 'Konsult', 1, 100, 25);
SQL

# 1. the line first
race part1 "BEGIN;
UPDATE ar.invoice_line SET quantity = 50 WHERE invoice_id = 1;
SELECT 'a1 open', pg_sleep(2);
COMMIT;" 'a1 open' "SELECT ar.issue(1::bigint)"
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part1.b"; fail "part 1: the issue failed"; }
[ "$RACE_WAITED" = yes ] || fail "part 1: ar.issue did not wait for the open line change"
got=$(sql -c "SELECT i.status || ' ' || i.net_total || ' ' || i.total || ' ' ||
					 (SELECT sum(ar.minor_units(l.net_amount)) FROM ar.invoice_line l WHERE l.invoice_id = i.id)
				FROM ar.invoice i WHERE i.id = 1")
[ "$got" = "issued 5000.00 SEK 6250.00 SEK 500000" ] || fail "part 1: invoice 1 is '$got'"
say "ok: ar.issue waited for the line change and totals the changed line (5000.00 SEK net)"

# 2. the issue first
race part2 "BEGIN;
SELECT ar.issue(2::bigint);
SELECT 'a2 open', pg_sleep(2);
COMMIT;" 'a2 open' "UPDATE ar.invoice_line SET quantity = 7 WHERE invoice_id = 2"
[ "$RACE_WAITED" = yes ] || fail "part 2: the line change did not wait for the open issue"
[ "$RACE_B_RC" -ne 0 ] || fail "part 2: the line of the issued invoice was changed"
grep -qx 'ERROR:  cannot change the lines of issued invoice INV-2026-000002' "$TMP/part2.b" \
	|| { cat "$TMP/part2.b"; fail "part 2: the line change failed with another error"; }
got=$(sql -c "SELECT i.net_total || ' ' || l.quantity FROM ar.invoice i JOIN ar.invoice_line l ON l.invoice_id = i.id WHERE i.id = 2")
[ "$got" = "100.00 SEK 1" ] || fail "part 2: invoice 2 and its line are '$got'"
say "ok: the line change waited for the issue and was refused; the line is as issued"

# 3. a sales order being delivered: a line added meanwhile waits and is refused
sql >/dev/null <<'SQL' || fail "setup of the order failed"
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency) VALUES (1, 1, 1, 'SO-1', 'SEK');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (1, 1, 'Konsult', 1, 100, 25);
SQL
race part3 "BEGIN;
UPDATE ar.sales_order SET status = 'delivered' WHERE id = 1;
SELECT 'a3 open', pg_sleep(2);
COMMIT;" 'a3 open' "INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES (1, 2, 'Extra', 1, 900, 25)"
[ "$RACE_WAITED" = yes ] || fail "part 3: the line insert did not wait for the delivery"
[ "$RACE_B_RC" -ne 0 ] || fail "part 3: a line was added to the invoiced order"
grep -q '^ERROR:  the lines of sales order SO-1 are invoiced (invoice 3) and cannot change$' "$TMP/part3.b" \
	|| { cat "$TMP/part3.b"; fail "part 3: the line insert failed with another error"; }
got=$(sql -c "SELECT (SELECT count(*) FROM ar.sales_order_line WHERE order_id = 1) || ' ' ||
					 (SELECT count(*) FROM ar.invoice_line WHERE invoice_id = 3)")
[ "$got" = "1 1" ] || fail "part 3: order and invoice lines are '$got'"
say "ok: the order line waited for the delivery and was refused; order and invoice have one line each"

# 4. part 1 with the issuer under REPEATABLE READ: its snapshot predates the
# line A commits, so it cannot total that line and fails with 40001 instead
# of issuing totals that the lines do not add up to; the draft stays a draft.
sql >/dev/null <<'SQL' || fail "setup of part 4 failed"
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (4, 1, 1, 'SEK', '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (4, 1, 'Konsult', 1, 100, 25);
SQL
race part4 "BEGIN;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES (4, 2, 'Sent', 1, 900, 25);
SELECT 'a4 open', pg_sleep(2);
COMMIT;" 'a4 open' "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1; SELECT ar.issue(4::bigint); COMMIT"
[ "$RACE_WAITED" = yes ] || fail "part 4: ar.issue did not wait for the open line insert"
grep -qx 'ERROR:  could not serialize access: the lines of invoice 4 changed after this transaction began' "$TMP/part4.b" \
	|| { cat "$TMP/part4.b"; fail "part 4: the REPEATABLE READ issue did not fail with the serialization failure"; }
got=$(sql -c "SELECT i.status || ' ' || (SELECT count(*) FROM ar.invoice_line l WHERE l.invoice_id = i.id)
				FROM ar.invoice i WHERE i.id = 4")
[ "$got" = "draft 2" ] || fail "part 4: invoice 4 is '$got'"
got=$(sql -c "SELECT ar.issue(4::bigint)" -c "SELECT net_total FROM ar.invoice WHERE id = 4" | paste -sd ' ')
[ "$got" = "INV-2026-000003 1000.00 SEK" ] || fail "part 4: issued again: '$got'"
say "ok: under REPEATABLE READ the issue failed with 40001; retried, it totals both lines (1000.00 SEK net)"

# 5. part 3 the other way round under REPEATABLE READ: a line is added while
# the order is delivered in an older snapshot: 40001, nothing invoiced
sql >/dev/null <<'SQL' || fail "setup of part 5 failed"
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency) VALUES (2, 1, 1, 'SO-2', 'SEK');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (2, 1, 'Konsult', 1, 100, 25);
SQL
race part5 "BEGIN;
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES (2, 2, 'Extra', 1, 900, 25);
SELECT 'a5 open', pg_sleep(2);
COMMIT;" 'a5 open' "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1; UPDATE ar.sales_order SET status = 'delivered' WHERE id = 2; COMMIT"
[ "$RACE_WAITED" = yes ] || fail "part 5: the delivery did not wait for the open line insert"
grep -qx 'ERROR:  could not serialize access: the lines of sales order 2 changed after this transaction began' "$TMP/part5.b" \
	|| { cat "$TMP/part5.b"; fail "part 5: the REPEATABLE READ delivery did not fail with the serialization failure"; }
got=$(sql -c "SELECT status || ' ' || coalesce(invoice_id::text, 'none') FROM ar.sales_order WHERE id = 2")
[ "$got" = "open none" ] || fail "part 5: order 2 is '$got'"
say "ok: under REPEATABLE READ the delivery failed with 40001 and invoiced nothing"

# 6. a series' pattern changed while its first number is being given out:
# the change waits for the issuer and is then refused (it once saw no number
# yet, and the series restarted under another pattern)
sql >/dev/null <<'SQL' || fail "setup of part 6 failed"
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default) VALUES (20, 1, 'S', 'invoice', 'S{N}', false);
UPDATE ar.series SET reference_prefix = '9' WHERE id = 20;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, series_id, issue_date) VALUES (6, 1, 1, 'SEK', 20, '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES (6, 1, 'x', 1, 1, 25);
SQL
race part6 "BEGIN;
SELECT ar.issue(6::bigint);
SELECT 'a6 open', pg_sleep(2);
COMMIT;" 'a6 open' "UPDATE ar.series SET pattern = 'T{YYYY}-{N}', reset = 'yearly' WHERE id = 20"
[ "$RACE_WAITED" = yes ] || fail "part 6: the series change did not wait for the open issue"
grep -qx 'ERROR:  series S has given out numbers: its entity, kind, pattern and reset cannot change' "$TMP/part6.b" \
	|| { cat "$TMP/part6.b"; fail "part 6: the series change was not refused"; }
got=$(sql -c "SELECT pattern || ' ' || reset FROM ar.series WHERE id = 20")
[ "$got" = "S{N} never" ] || fail "part 6: series 20 is '$got'"
say "ok: the series change waited for the issuer of its first number and was refused"

# 7. a series' pattern changed first, before the series' first number: the
# issuer, which read the old pattern, waits for the change and numbers with
# the new one (it once numbered with the old one, and the next issuer with
# the new one)
sql >/dev/null <<'SQL' || fail "setup of part 7 failed"
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default) VALUES
	(21, 1, 'P', 'invoice', 'P{N}', false), (22, 1, 'Q', 'invoice', 'Q{N}', false);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, series_id, issue_date) VALUES
	(7, 1, 1, 'SEK', 21, '2026-11-02'), (8, 1, 1, 'SEK', 21, '2026-11-02'), (9, 1, 1, 'SEK', 22, '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT id, 1, 'x', 1, 1, 25 FROM generate_series(7, 9) id;
SQL
race part7 "BEGIN;
UPDATE ar.series SET pattern = 'R-{N:3}' WHERE id = 21;
SELECT 'a7 open', pg_sleep(2);
COMMIT;" 'a7 open' "SELECT ar.issue(7::bigint)"
[ "$RACE_WAITED" = yes ] || fail "part 7: the issue did not wait for the open series change"
[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/part7.b"; fail "part 7: the issue failed"; }
[ "$(cat "$TMP/part7.b")" = "R-001" ] || { cat "$TMP/part7.b"; fail "part 7: the issue did not number with the new pattern"; }
got=$(sql -c "SELECT ar.issue(8::bigint)")
[ "$got" = "R-002" ] || fail "part 7: the next issue gave '$got'"
got=$(sql -c "SELECT string_agg(number || ' ' || seq_no, ', ' ORDER BY id) FROM ar.invoice WHERE id IN (7, 8)")
[ "$got" = "R-001 1, R-002 2" ] || fail "part 7: invoices 7 and 8 are '$got'"
got=$(sql -c "SELECT count(*) FROM ar.verify_series(21)")
[ "$got" = 0 ] || fail "part 7: ar.verify_series(21) found $got problems"
say "ok: an issuer that read the old pattern waited for its change and numbered with the new one"

# 8. the same with a changed reset: the documents would go to another
# period than the one the issuer took numbers for, so 40001, nothing issued
race part8 "BEGIN;
UPDATE ar.series SET pattern = 'Q{YYYY}-{N}', reset = 'yearly' WHERE id = 22;
SELECT 'a8 open', pg_sleep(2);
COMMIT;" 'a8 open' "SELECT ar.issue(9::bigint)"
[ "$RACE_WAITED" = yes ] || fail "part 8: the issue did not wait for the open series change"
[ "$RACE_B_RC" -ne 0 ] || { cat "$TMP/part8.b"; fail "part 8: the issue did not fail"; }
grep -qx 'ERROR:  could not serialize access: series Q changed its reset to yearly while this transaction waited for it' "$TMP/part8.b" \
	|| { cat "$TMP/part8.b"; fail "part 8: the issue failed with another error"; }
got=$(sql -c "SELECT status || ' ' || coalesce(number, 'none') FROM ar.invoice WHERE id = 9")
[ "$got" = "draft none" ] || fail "part 8: invoice 9 is '$got'"
got=$(sql -c "SELECT ar.issue(9::bigint)")
[ "$got" = "Q2026-1" ] || fail "part 8: the retried issue gave '$got'"
say "ok: an issuer that read the old reset failed with 40001; retried, it numbers in the new period"
