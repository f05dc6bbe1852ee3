#!/usr/bin/env bash
# bench/scale.sh: what one operation costs as the data around it grows.
#
# Each part runs the same operation on a small and on a large database in
# the same run; the small one is the baseline.  The cost per unit of work
# (per invoice issued, per letter, per payment matched) must not grow with
# the size of the tables: the ratio large / small is printed, with the goal
# of at most 1.5 (linear; some growth is the price of bigger indexes).  Each
# part guards a plan that once went quadratic or scanned a table per call:
#
# 1. ar.issue of one draft at a time, with 1,000 and with 100,000
#    customers: a generic plan merge-joined the customer index up to the
#    document's customer (9.8 ms per invoice at 100,000 customers).
#    AR_BENCH_SCALE_ISSUES (300) drafts issued one per call in one session,
#    after 20 untimed ones; server time per call.
# 2. ar.run_dunning over AR_BENCH_SCALE_LETTERS (2,000) and ten times as many
#    overdue invoices of as many customers: the letters were joined to their
#    items as nested loops over two CTEs (20,000 took 69 s).  Time per letter.
# 3. ar.match_payments right after an import the statistics have not seen
#    (the tables analyzed while the payments were not there; autovacuum is
#    off in benchmarks): AR_BENCH_SCALE_PAYMENTS (5,000) and ten times as
#    many payments by reference.  The writes read the table once per batch
#    and the batch once per row (80,000 took more than 12 minutes).  Time
#    per payment.
# 4. Delivering AR_BENCH_SCALE_ORDERS (2,000) and ten times as many sales
#    orders (two lines each, half the customers auto_issue) with one UPDATE:
#    time per order.  And, as a second baseline, the small set delivered
#    one UPDATE per order, as an integration that writes order by order
#    would: one UPDATE for all must be at least 2x faster per order (it was
#    one order at a time inside the statement too, 2.5 ms an order).
#
# Fails (exit 1) on an error or a count that is not what was made; a goal
# it misses is printed, not failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ISSUES=${AR_BENCH_SCALE_ISSUES:-300}
LETTERS=${AR_BENCH_SCALE_LETTERS:-2000}
PAYMENTS=${AR_BENCH_SCALE_PAYMENTS:-5000}
ORDERS=${AR_BENCH_SCALE_ORDERS:-2000}

# setup DB CUSTOMERS: one Swedish entity with a never-resetting invoice
# series and CUSTOMERS customers.
setup() {
	bench_db "$1"
	bench_sql "$1" >/dev/null <<SQL || fail "setting up $1 failed"
INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban, reference_scheme)
VALUES (1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', 'SEK', 'SE4550000000058398257466', 'ocr');
INSERT INTO ar.series (id, entity_id, code, kind, pattern, reset) VALUES (1, 1, 'INV', 'invoice', 'INV-{N:7}', 'never');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency)
SELECT c, 1, 'C' || c, 'Kund ' || c || ' AB', 'SE', 'SEK' FROM generate_series(1, $2) c;
SQL
}

# drafts DB N DAYS_AGO CUSTOMERS: N one-line drafts dated DAYS_AGO days
# back, spread over the customers (invoice k for customer k % CUSTOMERS + 1).
drafts() {
	bench_sql "$1" >/dev/null <<SQL || fail "making drafts in $1 failed"
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date)
SELECT 1, g % $4 + 1, 'SEK', current_date - $3 FROM generate_series(1, $2) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT i.id, 1, 'Tjänst', 1 + i.id % 5, 10.50 + i.id % 100, 'S', 25 FROM ar.invoice i WHERE i.status = 'draft';
SQL
}

# issued DB N DAYS_AGO CUSTOMERS: drafts as above, all issued, analyzed.
issued() {
	drafts "$@"
	bench_sql "$1" -c "SELECT count(*) FROM ar.issue(ARRAY(SELECT id FROM ar.invoice ORDER BY id))" >/dev/null \
		|| fail "issuing in $1 failed"
	bench_sql "$1" -c "VACUUM ANALYZE" >/dev/null
}

# compare UNIT PART SMALL LARGE: PART DB N (a function that prints the ms
# per UNIT) on a small and a large database; prints both and the ratio,
# and leaves the ratio in RATIO.
compare() {
	local small large
	small=$("$2" "bench_scale_$2_s" "$3") || exit 1
	large=$("$2" "bench_scale_$2_l" "$4") || exit 1
	RATIO=$(bench_ratio "$large" "$small")
	echo "  $3: $small ms per $1; $4: $large ms per $1; ratio $RATIO"
}

# per DB WHAT SQL: runs SQL, which gives ms|units, checks that units is
# what was expected (WHAT names it), and prints the ms per unit.
per() {
	local ms n
	IFS='|' read -r ms n < <(bench_sql "$1" -c "$3") || fail "$2 in $1 failed"
	[ "$n" -eq "$4" ] || fail "$2 in $1: $n, not $4"
	awk -v ms="$ms" -v n="$n" 'BEGIN { printf "%.4f", ms / n }'
}

# stop_clock COUNT: the end of a timed SQL string: the clock stops, the
# tables are analyzed (what was written may make COUNT's plan a nested loop
# over tables the statistics took for empty), then ms since t0 and COUNT.
stop_clock() {
	echo "CREATE TEMP TABLE t1 AS SELECT clock_timestamp() AS t1;
		ANALYZE ar.invoice, ar.sales_order, ar.payment, ar.allocation, ar.dunning_letter;
		SELECT round(extract(epoch FROM t1.t1 - t.t0)::numeric * 1000, 1), ($1) FROM t, t1"
}

# timed DB WHAT CALL COUNT N: the ms per unit of one statement CALL, whose
# rows COUNT counts (as table r) and must come to N.
timed() {
	per "$1" "$2" "SET client_min_messages = error;
		CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
		CREATE TEMP TABLE r AS $3;
		$(stop_clock "$4")" "$5"
}

# -- 1. issuing one draft at a time -------------------------------------------
echo "1. ar.issue of one draft per call, $ISSUES calls: 1,000 and 100,000 customers"
issue_part() {
	local db=$1 customers=$2
	setup "$db" "$customers"
	drafts "$db" $((ISSUES + 20)) 0 "$customers"
	bench_sql "$db" -c "VACUUM ANALYZE" >/dev/null
	per "$db" "issuing" "DO \$\$
		DECLARE d bigint;
		BEGIN
			FOR d IN SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id LIMIT 20 LOOP
				PERFORM ar.issue(d);
			END LOOP;
		END \$\$;
		CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
		DO \$\$
		DECLARE d bigint;
		BEGIN
			FOR d IN SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id LOOP
				PERFORM ar.issue(d);
			END LOOP;
		END \$\$;
		$(stop_clock "(SELECT count(*) FROM ar.invoice WHERE status = 'issued') - 20")" "$ISSUES"
}
compare invoice issue_part 1000 100000
ISSUE_RATIO=$RATIO

# -- 2. dunning ----------------------------------------------------------------
echo
echo "2. ar.run_dunning: $LETTERS and $((LETTERS * 10)) overdue invoices, one per customer"
dunning_part() {
	local db=$1 n=$2
	setup "$db" "$n"
	bench_sql "$db" >/dev/null <<'SQL' || fail "the dunning policy of $db failed"
INSERT INTO ar.dunning_policy (id, entity_id, name, is_default) VALUES (1, 1, 'standard', true);
INSERT INTO ar.dunning_level (policy_id, level, days_after_due, action, fee, charge_interest, deadline_days) VALUES
	(1, 1, 7, 'reminder', '60.00 SEK', true, 10), (1, 2, 21, 'reminder', '60.00 SEK', true, 10);
SQL
	issued "$db" "$n" 60 "$n"
	# (the rates shipped are older than half a year by now: no warning)
	timed "$db" "the letters" "SELECT * FROM ar.run_dunning(current_date, 1)" "SELECT sum(letters) FROM r" "$n"
}
compare letter dunning_part "$LETTERS" $((LETTERS * 10))
DUNNING_RATIO=$RATIO

# -- 3. matching after an import the statistics have not seen -------------------
echo
echo "3. ar.match_payments after an import the statistics have not seen: $PAYMENTS and $((PAYMENTS * 10)) payments"
match_part() {
	local db=$1 n=$2
	setup "$db" 1000
	# analyzed now, while there is no payment; the import comes after
	issued "$db" "$n" 0 1000
	bench_sql "$db" -c "INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reference)
		SELECT 1, 'B' || i.id, current_date, i.total, i.payment_reference FROM ar.invoice i" >/dev/null \
		|| fail "the payments of $db failed"
	timed "$db" "matching" "SELECT * FROM ar.match_payments()" "SELECT payments FROM r WHERE rule = 'reference'" "$n"
}
compare payment match_part "$PAYMENTS" $((PAYMENTS * 10))
MATCH_RATIO=$RATIO

# -- 4. delivering orders -------------------------------------------------------
echo
echo "4. sales orders delivered by one UPDATE: $ORDERS and $((ORDERS * 10)) orders; $ORDERS one UPDATE each"
# orders DB N: N open orders of the 1,000 customers (even ones auto_issue),
# two lines each.
orders() {
	setup "$1" 1000
	bench_sql "$1" >/dev/null <<SQL || fail "the orders of $1 failed"
UPDATE ar.customer SET auto_issue = (id % 2 = 0);
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency)
SELECT g, 1, g % 1000 + 1, 'SO-' || g, 'SEK' FROM generate_series(1, $2) g;
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT g, l, 'Vara ' || l, l, 99.50, 25 FROM generate_series(1, $2) g, generate_series(1, 2) l;
VACUUM ANALYZE;
SQL
}
delivered() {
	echo "(SELECT count(*) FROM ar.sales_order o JOIN ar.invoice i ON i.id = o.invoice_id
			 WHERE i.status = CASE WHEN o.customer_id % 2 = 0 THEN 'issued' ELSE 'draft' END::ar.invoice_status)"
}
# deliver DB N STATEMENT: N orders made, then delivered by STATEMENT; the
# ms per order.
deliver() {
	orders "$1" "$2"
	per "$1" "delivering" "CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
		$3;
		$(stop_clock "$(delivered)")" "$2"
}
deliver_all() {
	deliver "$1" "$2" "UPDATE ar.sales_order SET status = 'delivered'"
}
deliver_each() {
	deliver "$1" "$2" "DO \$\$
		DECLARE o bigint;
		BEGIN
			FOR o IN SELECT id FROM ar.sales_order ORDER BY id LOOP
				UPDATE ar.sales_order SET status = 'delivered' WHERE id = o;
			END LOOP;
		END \$\$"
}
compare order deliver_all "$ORDERS" $((ORDERS * 10))
ORDERS_RATIO=$RATIO
all=$(deliver_all bench_scale_orders_all "$ORDERS") || exit 1
each=$(deliver_each bench_scale_orders_each "$ORDERS") || exit 1
ORDERS_SPEEDUP=$(bench_ratio "$each" "$all")
echo "  $ORDERS orders, one UPDATE per order: $each ms per order; one UPDATE for all: $all ms per order;" \
	"$ORDERS_SPEEDUP x faster"

echo
bench_goal "ar.issue per invoice, 100,000 customers / 1,000, at most 1.5" "$ISSUE_RATIO" 1.5
bench_goal "ar.run_dunning per letter, $((LETTERS * 10)) / $LETTERS, at most 1.5" "$DUNNING_RATIO" 1.5
bench_goal "ar.match_payments per payment after an unseen import, $((PAYMENTS * 10)) / $PAYMENTS, at most 1.5" \
	"$MATCH_RATIO" 1.5
bench_goal "delivering per order, $((ORDERS * 10)) / $ORDERS, at most 1.5" "$ORDERS_RATIO" 1.5
goal_min "one UPDATE delivering $ORDERS orders at least 2x faster per order than one UPDATE each" "$ORDERS_SPEEDUP" 2
