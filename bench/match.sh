#!/usr/bin/env bash
# bench/match.sh: ar.match_payments against three ways of doing the same.
#
# Data (generated, per entity; ids are dense per entity):
#   entity 1: AR_BENCH_MATCH_ROWS (1,000,000) open invoices and as many
#             payments, for ar.match_payments and the SQL floor;
#   entity 2: AR_BENCH_MATCH_LOOP_ROWS (100,000) of each, for the PL/pgSQL
#             loop (ii);
#   entity 3: AR_BENCH_MATCH_ERP_ROWS (20,000) of each, for the per-payment
#             client calls (iii).
#   Every entity has rows/10 customers with 10 open invoices each (series
#   INV-{YYYY}-{N:7}, OCR references), and one payment per invoice, the
#   payments in an order unrelated to the invoices'.  Per customer, the
#   invoice in slot k (0-9) is paid by:
#     k 0-7  the exact structured reference, from the customer's account  80%
#     k 8    the customer's known account and the exact amount, no ref    10%
#     k 9    odd customers: the invoice number or the grouped reference
#            in the free text, from no known account                      5%
#     k 9    even customers: noise, by customer number mod 20:              5%
#              0  the known account, and an amount that two open invoices
#                 of the customer have (slot 9 is given slot 8's amount,
#                 so the customer's slot-8 payment is ambiguous as well)
#              2  the reference with a wrong check digit, unknown account
#              4  the known account, the amount 0.01 off
#              6  an unknown account and the customer's name (upper case,
#                 without "AB"): fuzzy, for suggestions only
#              8  free text with numbers that name no invoice
#              else a random amount, unknown account, no reference
#   Every customer's account is in ar.payer_account (learned earlier).
#   bench_truth(payment_id, invoice_id, category, matchable) is the truth;
#   matchable are the reference, text and payer payments except the
#   ambiguous ones (customers with number mod 20 = 0).
#   The rows are loaded with session_replication_role = replica (no
#   triggers, no audit rows for the load), as a restore would; they are what
#   ar.issue makes: status issued, number from the series pattern, the OCR
#   reference ar.issue builds from the number's digits (with its Luhn check
#   digit), open_amount = total, and the series counter at the last number.
#   The invoices carry no lines, VAT breakdown or outbox rows (matching reads
#   none of them).  The database is vacuumed, analyzed and checkpointed
#   before the timings.
#
# Timed (server time, clock_timestamp() around the statement):
#   (i)   the floor: one INSERT ... SELECT of a hash join of entity 1's
#         unmatched payments with its open invoices on the structured
#         reference, into a plain table; best of 3 (truncated between).
#   (ii)  a per-payment PL/pgSQL loop over entity 2's payments (rules a, b
#         and c, indexed lookups, ar.apply_allocation's bookkeeping),
#         scaled by AR_BENCH_MATCH_ROWS / AR_BENCH_MATCH_LOOP_ROWS.
#   (iii) ERP reconciliation: one client call per payment of entity 3
#         (pgbench, 1 client, SELECT bench.match_one(id), autocommit),
#         scaled by AR_BENCH_MATCH_ROWS / AR_BENCH_MATCH_ERP_ROWS.
#   (iv)  the bookkeeping floor, not a goal: the writes that (i)'s matches
#         must leave behind (allocation, invoice and payment amounts and
#         statuses, an audit row each) and nothing else, one plain SQL
#         statement on copies of entity 1's tables without triggers, checks
#         or foreign keys; one run (the copies take a while to make).
#   ar    ar.match_payments(1): all rules, allocations, invoice and payment
#         updates, suggestions, learned accounts, audit trail; one run.
#         The backend's peak RSS (VmHWM) is read from /proc/self/status of
#         the same session, with its shared-memory and private parts.
# Precision: auto-applied payments whose invoices are the truth's / all
# auto-applied payments.  Recall: matchable payments applied to their
# true invoice / matchable payments.
# Fails (exit 1) on any error, a row count that is not what the data says,
# or allocations that do not add up.  Goals (a miss is printed, not failed):
# ar <= 3x (i) (stretch 2x), ar at least 3x faster than (ii) and 50x faster
# than (iii) (scaled), precision 100%, recall >= 99%.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROWS=${AR_BENCH_MATCH_ROWS:-1000000}
LOOP_ROWS=${AR_BENCH_MATCH_LOOP_ROWS:-100000}
ERP_ROWS=${AR_BENCH_MATCH_ERP_ROWS:-20000}
DB=bench_match
OUT=$(mktemp -d /tmp/ar-bench-match.XXXXXX)
chmod 755 "$OUT"
trap 'rm -rf "$OUT"' EXIT

for n in "$ROWS" "$LOOP_ROWS" "$ERP_ROWS"; do
	[ $((n % 10)) -eq 0 ] && [ "$n" -ge 1000 ] || fail "row counts must be multiples of 10, at least 1000 (got $n)"
	[ $((n % 7919)) -ne 0 ] || fail "row count $n is a multiple of 7919"
done

bench_db "$DB"
sql() { bench_sql "$DB" "$@"; }

# -- the generator and the baselines -------------------------------------------
sql >/dev/null <<'SQL' || fail "the setup failed"
CREATE TABLE bench_truth (
	payment_id bigint PRIMARY KEY,
	invoice_id bigint,
	entity_id integer NOT NULL,
	category text NOT NULL,
	matchable boolean NOT NULL
);

-- bench.generate(e, n): entity e with n / 10 customers, n open invoices and
-- n payments; invoice, payment and customer ids start after (e - 1) * 10^7.
CREATE FUNCTION bench.generate(e integer, n integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	base bigint := (e - 1)::bigint * 10000000;
BEGIN
	PERFORM set_config('session_replication_role', 'replica', true);
	INSERT INTO ar.entity (id, code, name, country, vat_id, currency, reference_scheme)
	VALUES (e, 'SE' || e, 'Matchning ' || e || ' AB', 'SE', 'SE5566778899' || lpad(e::text, 2, '0'),
			'SEK', 'ocr');
	INSERT INTO ar.series (id, entity_id, code, kind, pattern, reset)
	VALUES (e, e, 'INV', 'invoice', 'INV-{YYYY}-{N:7}', 'yearly');
	INSERT INTO ar.series_counter (series_id, period, last_value, last_date) VALUES (e, 2026, n, '2026-03-01');
	INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency)
	SELECT base + c, e, 'C' || c,
		   (ARRAY['Lindqvist', 'Berg', 'Holm', 'Sandberg', 'Ek', 'Nyberg', 'Falk', 'Lund', 'Strand',
				  'Wik'])[1 + c % 10] || ' ' ||
		   (ARRAY['Bygg', 'Data', 'Frakt', 'El', 'Konsult', 'Mat', 'Trä', 'Plast', 'Metall',
				  'Media'])[1 + (c / 10) % 10] || ' ' || c || ' AB',
		   'SE', 'SEK'
	  FROM generate_series(1, n / 10) c;
	INSERT INTO ar.payer_account (entity_id, payer_account, customer_id, rule)
	SELECT e, 'SE' || lpad((base + c)::text, 22, '0'), base + c, 'reference'
	  FROM generate_series(1, n / 10) c;

	-- slot k of customer c is invoice base + (c - 1) * 10 + k + 1; amounts
	-- differ within a customer except slot 9 of customers c % 20 = 0
	CREATE TEMP TABLE gen ON COMMIT DROP AS
	SELECT x.id, x.c, x.k, base + x.c AS customer_id,
		   'INV-2026-' || lpad((x.id - base)::text, 7, '0') AS number,
		   100000 + ((CASE WHEN x.k = 9 AND x.c % 20 = 0 THEN x.id - 1 ELSE x.id END - base)
					 * 7907) % 1000003 AS a,
		   -- payment ids: a permutation of the invoice ids
		   base + 1 + ((x.id - base - 1) * 7919) % n AS pid
	  FROM (SELECT base + (c - 1) * 10 + k + 1 AS id, c, k
			  FROM generate_series(1, n / 10) c, generate_series(0, 9) k) x;
	INSERT INTO ar.invoice (id, entity_id, customer_id, series_id, kind, number, seq_period, seq_no,
							status, issue_date, due_date, currency, net_total, tax_total, total,
							open_amount, payment_reference, issued_at)
	SELECT g.id, e, g.customer_id, e, 'invoice', g.number, 2026, g.id - base, 'issued',
		   '2026-03-01', '2026-03-31', 'SEK',
		   ar.amount_of_minor(g.a - g.a / 5, 'SEK'), ar.amount_of_minor(g.a / 5, 'SEK'),
		   ar.amount_of_minor(g.a, 'SEK'), ar.amount_of_minor(g.a, 'SEK'),
		   ar.payment_reference('ocr', right(regexp_replace(g.number, '[^0-9]', '', 'g'), 24)), now()
	  FROM gen g ORDER BY g.id;

	CREATE TEMP TABLE genp ON COMMIT DROP AS
	SELECT g.*, i.payment_reference AS ref, cu.name,
		   CASE WHEN g.k < 8 THEN 'reference'
				WHEN g.k = 8 THEN 'payer'
				WHEN g.c % 2 = 1 THEN 'text'
				ELSE 'noise' || (g.c % 20) END AS cat
	  FROM gen g JOIN ar.invoice i ON i.id = g.id JOIN ar.customer cu ON cu.id = g.customer_id;
	INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, remittance,
							payer_name, payer_account, source, kind, status, unallocated)
	SELECT p.pid, e, 'B' || p.pid, '2026-03-20', ar.amount_of_minor(p.amt, 'SEK'), p.reference,
		   p.remittance, p.payer_name, p.payer_account, 'camt053', 'credit', 'unmatched',
		   ar.amount_of_minor(p.amt, 'SEK')
	  FROM (SELECT g.pid,
				   CASE WHEN g.cat = 'noise4' THEN g.a + 1
						WHEN g.cat IN ('noise8', 'noise10', 'noise12', 'noise14', 'noise16', 'noise18')
							 THEN 5000 + (g.id * 31) % 900000
						ELSE g.a END AS amt,
				   CASE WHEN g.cat = 'reference' THEN g.ref
						WHEN g.cat = 'noise2' THEN left(g.ref, -1) || ((right(g.ref, 1)::int + 1) % 10)::text
				   END AS reference,
				   CASE WHEN g.cat = 'text' AND g.c % 4 = 1 THEN 'Faktura ' || g.number || ', tack!'
						WHEN g.cat = 'text' THEN 'Betalning avser OCR ' || regexp_replace(g.ref, '(....)', '\1 ', 'g')
						WHEN g.cat = 'payer' THEN 'Betalning'
						WHEN g.cat = 'noise8' THEN 'Faktura 2026-' || (g.id % 997) || ' order ' || (g.id * 13 % 100000)
				   END AS remittance,
				   CASE WHEN g.cat IN ('reference', 'text') THEN g.name
						WHEN g.cat = 'noise6' THEN upper(replace(g.name, ' AB', ''))
						WHEN g.cat LIKE 'noise%' THEN 'Okänd Betalare ' || g.id
				   END AS payer_name,
				   CASE WHEN g.cat IN ('reference', 'payer', 'noise0', 'noise4')
							 THEN 'SE' || lpad(g.customer_id::text, 22, '0')
						WHEN g.cat LIKE 'noise%' THEN 'NO' || lpad(g.id::text, 13, '0')
				   END AS payer_account
			  FROM genp g) p
	 ORDER BY p.pid;
	INSERT INTO bench_truth
	SELECT g.pid, CASE WHEN g.cat IN ('reference', 'payer', 'text') THEN g.id END, e, g.cat,
		   g.cat IN ('reference', 'text') OR (g.cat = 'payer' AND g.c % 20 <> 0)
	  FROM genp g;
END
$$;

-- The baselines (ii) and (iii): one payment at a time with indexed lookups.
-- Rules a (valid structured reference), b (a word of the text, or all its
-- digits, as an invoice number or reference) and c (known account and
-- exactly one open invoice of the amount; several become suggestions);
-- bookkeeping with ar.apply_allocation, as ar.allocate does.  The two
-- entry points, bench.time_loop and bench.match_one, are declared like ar's
-- own writers (src/guard.c: the C wrapper ar_guarded runs bench._time_loop
-- and bench._match_one as an internal writer), so that they may write
-- allocations and suggestions; only a superuser can declare them so.
CREATE FUNCTION bench.book(p ar.payment, invoice bigint, amt ar.amount, rule text, conf numeric)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO ar.allocation (payment_id, invoice_id, amount, rule, confidence)
	VALUES (p.id, invoice, amt, rule, conf);
	PERFORM ar.apply_allocation(p.id, invoice, amt);
	RETURN rule;
END
$$;

CREATE FUNCTION bench.match_row(p ar.payment) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, ar, public AS $$
DECLARE
	scheme text;
	cur text := ar.currency_of(p.amount);
	inv record;
	ids bigint[];
	words text[];
BEGIN
	SELECT e.reference_scheme INTO scheme FROM ar.entity e WHERE e.id = p.entity_id;
	IF p.reference IS NOT NULL AND ar.reference_valid(scheme, p.reference) THEN
		SELECT i.id, i.open_amount INTO inv FROM ar.invoice i
		 WHERE i.entity_id = p.entity_id AND i.payment_reference = upper(replace(p.reference, ' ', ''))
		   AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid') AND i.currency = cur
		   FOR UPDATE;
		IF FOUND THEN
			RETURN bench.book(p, inv.id, least(p.amount, inv.open_amount), 'reference', 1);
		END IF;
		RETURN NULL;
	END IF;
	IF p.remittance IS NOT NULL THEN
		words := ARRAY(SELECT upper(w) FROM regexp_split_to_table(p.remittance, '[^A-Za-z0-9-]+') w
						WHERE length(w) >= 6)
				 || regexp_replace(p.remittance, '[^0-9]', '', 'g');
		ids := ARRAY(SELECT i.id FROM ar.invoice i
					  WHERE i.entity_id = p.entity_id
						AND (i.number = ANY (words) OR i.payment_reference = ANY (words))
						AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
						AND i.currency = cur);
		IF cardinality(ids) = 1 THEN
			SELECT i.id, i.open_amount INTO inv FROM ar.invoice i WHERE i.id = ids[1] FOR UPDATE;
			RETURN bench.book(p, inv.id, least(p.amount, inv.open_amount), 'text', 0.95);
		END IF;
	END IF;
	IF p.payer_account IS NOT NULL THEN
		ids := ARRAY(SELECT i.id FROM ar.payer_account a
					   JOIN ar.invoice i ON i.customer_id = a.customer_id
					  WHERE a.entity_id = p.entity_id
						AND a.payer_account = upper(replace(p.payer_account, ' ', ''))
						AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
						AND i.currency = cur
						AND ar.minor_units(i.open_amount) = ar.minor_units(p.amount)
					  ORDER BY i.id);
		IF cardinality(ids) = 1 THEN
			PERFORM 1 FROM ar.invoice i WHERE i.id = ids[1] FOR UPDATE;
			RETURN bench.book(p, ids[1], p.amount, 'payer_amount', 0.9);
		ELSIF cardinality(ids) > 1 THEN
			INSERT INTO ar.match_suggestion (payment_id, invoice_id, score, rule)
			SELECT p.id, x, 0.5, 'payer_amount' FROM unnest(ids) x;
			UPDATE ar.payment q SET status = 'suggested' WHERE q.id = p.id;
			RETURN 'suggested';
		END IF;
	END IF;
	RETURN NULL;
END
$$;

-- (iii): what one client call does
CREATE FUNCTION bench._match_one(payment_id bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	p ar.payment;
BEGIN
	SELECT * INTO p FROM ar.payment q WHERE q.id = payment_id FOR UPDATE;
	IF NOT FOUND OR p.status <> 'unmatched' OR p.kind <> 'credit' THEN
		RETURN NULL;
	END IF;
	RETURN bench.match_row(p);
END
$$;

-- (ii): the loop; milliseconds and the count matched
CREATE FUNCTION bench._time_loop(e integer, OUT ms float8, OUT matched bigint) LANGUAGE plpgsql AS $$
DECLARE
	p ar.payment;
	t0 timestamptz := clock_timestamp();
BEGIN
	matched := 0;
	FOR p IN SELECT * FROM ar.payment q WHERE q.entity_id = e AND q.status = 'unmatched'
				AND q.kind = 'credit' ORDER BY q.id FOR UPDATE LOOP
		IF bench.match_row(p) NOT IN ('suggested') THEN
			matched := matched + 1;
		END IF;
	END LOOP;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

CREATE FUNCTION bench.match_one(payment_id bigint) RETURNS text
	AS '$libdir/ar', 'ar_guarded' LANGUAGE C;
CREATE FUNCTION bench.time_loop(e integer, OUT ms float8, OUT matched bigint)
	AS '$libdir/ar', 'ar_guarded' LANGUAGE C;

-- (i): the floor
CREATE TABLE floor_match (payment_id bigint, invoice_id bigint);
CREATE FUNCTION bench.time_floor(e integer, OUT ms float8, OUT matched bigint) LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	TRUNCATE floor_match;
	t0 := clock_timestamp();
	INSERT INTO floor_match (payment_id, invoice_id)
	SELECT p.id, i.id
	  FROM ar.payment p
	  JOIN ar.invoice i ON i.entity_id = p.entity_id AND i.payment_reference = p.reference
	 WHERE p.entity_id = e AND i.entity_id = e AND p.kind = 'credit' AND p.status = 'unmatched'
	   AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
	   AND i.currency = ar.currency_of(p.amount);
	GET DIAGNOSTICS matched = ROW_COUNT;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

-- (iv) the bookkeeping floor: copies of entity e's open invoices and
-- payments (ar's columns and indexes, the invoices' fillfactor, no
-- triggers, checks, foreign keys or row-level security), an allocation
-- table and an audit table like ar's; bench.floor_book(e) then writes what
-- the reference matches of (i) must leave behind, and nothing else: per
-- match an allocation row, the invoice's open amount and status, the
-- payment's unallocated amount and status, and an audit row (jsonb and a
-- sha256) for each of the three, one plain SQL statement.  With lean, the
-- tables keep only their primary keys and unique constraints, and the
-- payments get fillfactor 50 like the invoices, so that both updates are
-- HOT: the floor of the writes on the leanest design, not ar's.
CREATE FUNCTION bench.floor_setup(e integer, lean boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	ix record;
BEGIN
	CREATE TABLE bench.floor_invoice (LIKE ar.invoice INCLUDING DEFAULTS INCLUDING INDEXES)
		WITH (fillfactor = 50);
	CREATE TABLE bench.floor_payment (LIKE ar.payment INCLUDING DEFAULTS INCLUDING INDEXES);
	CREATE TABLE bench.floor_allocation (LIKE ar.allocation INCLUDING DEFAULTS INCLUDING INDEXES
										 INCLUDING IDENTITY);
	CREATE TABLE bench.floor_audit (LIKE ar.audit INCLUDING INDEXES);
	ALTER TABLE bench.floor_audit ALTER id ADD GENERATED BY DEFAULT AS IDENTITY,
		ALTER xid SET DEFAULT pg_current_xact_id(), ALTER at SET DEFAULT now(),
		ALTER actor SET DEFAULT current_user, ALTER first_in_xact SET DEFAULT false;
	IF lean THEN
		ALTER TABLE bench.floor_payment SET (fillfactor = 50);
		FOR ix IN
			SELECT i.indexrelid::regclass AS name FROM pg_index i
			 WHERE i.indrelid IN ('bench.floor_invoice'::regclass, 'bench.floor_payment'::regclass,
								  'bench.floor_allocation'::regclass, 'bench.floor_audit'::regclass)
			   AND NOT i.indisunique
		LOOP
			EXECUTE format('DROP INDEX %s', ix.name);
		END LOOP;
	END IF;
	INSERT INTO bench.floor_invoice SELECT * FROM ar.invoice WHERE entity_id = e;
	INSERT INTO bench.floor_payment SELECT * FROM ar.payment WHERE entity_id = e;
END
$$;
CREATE FUNCTION bench.floor_book(e integer, OUT ms float8, OUT booked bigint) LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	WITH m AS (
		SELECT p.id AS payment_id, i.id AS invoice_id, least(p.amount, i.open_amount) AS amount
		  FROM bench.floor_payment p
		  JOIN bench.floor_invoice i ON i.entity_id = p.entity_id AND i.payment_reference = p.reference
		 WHERE p.entity_id = e AND i.entity_id = e AND p.kind = 'credit' AND p.status = 'unmatched'
		   AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
		   AND i.currency = ar.currency_of(p.amount)
	), a AS (
		INSERT INTO bench.floor_allocation (payment_id, invoice_id, amount, rule, confidence)
		SELECT m.payment_id, m.invoice_id, m.amount, 'reference', 1 FROM m
		RETURNING *
	), ui AS (
		UPDATE bench.floor_invoice i
		   SET open_amount = i.open_amount OPERATOR(ar.-) m.amount,
			   status = CASE WHEN i.open_amount OPERATOR(ar.=) m.amount THEN 'paid' ELSE 'partially_paid'
						END::ar.invoice_status
		  FROM m WHERE i.id = m.invoice_id
		RETURNING i.id, i.entity_id, i.status, i.open_amount
	), up AS (
		UPDATE bench.floor_payment p
		   SET unallocated = p.unallocated OPERATOR(ar.-) m.amount,
			   status = CASE WHEN p.unallocated OPERATOR(ar.=) m.amount THEN 'matched' ELSE 'partial' END
		  FROM m WHERE p.id = m.payment_id
		RETURNING p.id, p.entity_id, p.status, p.unallocated
	), wa AS (
		-- OFFSET 0 keeps each row's jsonb from being built twice
		INSERT INTO bench.floor_audit (table_name, op, row_key, entity_id, data, hash)
		SELECT 'allocation', 'INSERT', a.id::text, e, x.data,
			   sha256(convert_to('allocation|' || a.id || '|' || e || '|' || x.data::text, 'UTF8'))
		  FROM a, LATERAL (SELECT to_jsonb(a) AS data OFFSET 0) x
	), wi AS (
		INSERT INTO bench.floor_audit (table_name, op, row_key, entity_id, data, hash)
		SELECT 'invoice', 'UPDATE', ui.id::text, ui.entity_id, x.data,
			   sha256(convert_to('invoice|' || ui.id || '|' || ui.entity_id || '|' || x.data::text, 'UTF8'))
		  FROM ui, LATERAL (SELECT jsonb_build_object('status', ui.status, 'open_amount', ui.open_amount)
								   AS data OFFSET 0) x
	), wp AS (
		INSERT INTO bench.floor_audit (table_name, op, row_key, entity_id, data, hash)
		SELECT 'payment', 'UPDATE', up.id::text, up.entity_id, x.data,
			   sha256(convert_to('payment|' || up.id || '|' || up.entity_id || '|' || x.data::text, 'UTF8'))
		  FROM up, LATERAL (SELECT jsonb_build_object('status', up.status, 'unallocated', up.unallocated)
								   AS data OFFSET 0) x
	)
	SELECT count(*) INTO booked FROM a;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

-- ar: milliseconds and the result, as rule=count pairs
CREATE FUNCTION bench.time_match(e integer, OUT ms float8, OUT result text) LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	SELECT string_agg(m.rule || '=' || m.payments, ' ') INTO result FROM ar.match_payments(e) m;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;

-- precision and recall of the automatic matches of an entity, in percent
CREATE FUNCTION bench.quality(e integer, OUT applied bigint, OUT correct bigint, OUT matchable bigint,
							  OUT found bigint, OUT precision_pct numeric, OUT recall_pct numeric)
LANGUAGE sql AS $$
	WITH per_payment AS (
		SELECT a.payment_id, bool_and(a.invoice_id = t.invoice_id) AS right_invoice
		  FROM ar.allocation a
		  JOIN bench_truth t ON t.payment_id = a.payment_id
		 WHERE t.entity_id = e AND a.reversed_at IS NULL AND a.rule <> 'manual'
		 GROUP BY a.payment_id
	)
	SELECT count(pp.*), count(*) FILTER (WHERE pp.right_invoice),
		   (SELECT count(*) FROM bench_truth t WHERE t.entity_id = e AND t.matchable),
		   (SELECT count(*) FROM bench_truth t JOIN per_payment q ON q.payment_id = t.payment_id
			 WHERE t.entity_id = e AND t.matchable AND q.right_invoice),
		   NULL::numeric, NULL::numeric
	  FROM per_payment pp
$$;
SQL

echo "data: entity 1 $ROWS, entity 2 $LOOP_ROWS, entity 3 $ERP_ROWS open invoices and payments each"
start=$SECONDS
sql -c "SELECT bench.generate(1, $ROWS)" >/dev/null || fail "generating entity 1 failed"
sql -c "SELECT bench.generate(2, $LOOP_ROWS)" >/dev/null || fail "generating entity 2 failed"
sql -c "SELECT bench.generate(3, $ERP_ROWS)" >/dev/null || fail "generating entity 3 failed"
sql -c "VACUUM ANALYZE" >/dev/null
sql -c "CHECKPOINT" >/dev/null
echo "  made, vacuumed and analyzed in $((SECONDS - start)) s"
counts=$(sql -c "SELECT (SELECT count(*) FROM ar.invoice WHERE status = 'issued'),
                        (SELECT count(*) FROM ar.payment WHERE status = 'unmatched'),
                        (SELECT count(*) FROM bench_truth WHERE matchable)")
echo "  $counts (issued invoices | unmatched payments | matchable payments)" | sed 's/|/ | /g'
total=$((ROWS + LOOP_ROWS + ERP_ROWS))
[ "${counts%%|*}" -eq "$total" ] || fail "expected $total issued invoices"

# -- (i) the floor ---------------------------------------------------------------
T_FLOOR=()
for r in 1 2 3; do
	IFS='|' read -r ms n < <(sql -c "SELECT round(ms::numeric), matched FROM bench.time_floor(1)") \
		|| fail "the floor failed"
	[ "$n" -eq $((ROWS * 8 / 10)) ] || fail "the floor matched $n payments, not $((ROWS * 8 / 10))"
	T_FLOOR+=("$ms")
done
best() { printf '%s\n' "$@" | sort -g | head -n 1; }
FLOOR=$(best "${T_FLOOR[@]}")
echo "(i)   floor, hash join on the reference into a table: $FLOOR ms (rounds: ${T_FLOOR[*]}), $n matches"

# -- (iv) the bookkeeping floor --------------------------------------------------------
# floor_run LEAN: the floor on copies of entity 1, checked; prints its ms.
floor_run() {
	local ms n bad
	sql -c "SELECT bench.floor_setup(1, $1)" >/dev/null || fail "copying entity 1 for the bookkeeping floor failed"
	sql -c "VACUUM ANALYZE bench.floor_invoice, bench.floor_payment, bench.floor_allocation, bench.floor_audit" >/dev/null
	sql -c "CHECKPOINT" >/dev/null
	IFS='|' read -r ms n < <(sql -c "SELECT round(ms::numeric), booked FROM bench.floor_book(1)") \
		|| fail "the bookkeeping floor failed"
	[ "$n" -eq $((ROWS * 8 / 10)) ] || fail "the bookkeeping floor booked $n payments, not $((ROWS * 8 / 10))"
	bad=$(sql -c "SELECT (SELECT count(*) FROM bench.floor_allocation) <> $n
	                  OR (SELECT count(*) FROM bench.floor_audit) <> 3 * $n
	                  OR (SELECT count(*) FROM bench.floor_invoice WHERE status = 'paid') <> $n
	                  OR (SELECT count(*) FROM bench.floor_payment WHERE status = 'matched') <> $n
	                  OR (SELECT count(*) FROM bench.floor_payment WHERE status = 'unmatched') <> $ROWS - $n")
	[ "$bad" = f ] || fail "the bookkeeping floor wrote the wrong rows"
	sql -c "DROP TABLE bench.floor_invoice, bench.floor_payment, bench.floor_allocation, bench.floor_audit" >/dev/null
	echo "$ms"
}
BOOK_MS=$(floor_run false) || exit 1
LEAN_MS=$(floor_run true) || exit 1
echo "(iv)  bookkeeping floor, the writes of (i)'s $((ROWS * 8 / 10)) matches alone in plain SQL: $BOOK_MS ms," \
	"$(bench_ratio "$BOOK_MS" "$FLOOR")x (i); on lean tables (unique indexes only, HOT updates):" \
	"$LEAN_MS ms, $(bench_ratio "$LEAN_MS" "$FLOOR")x (i)"

# -- (ii) the PL/pgSQL loop ------------------------------------------------------------
sql -c "CHECKPOINT" >/dev/null
IFS='|' read -r LOOP_MS LOOP_N < <(sql -c "SELECT round(ms::numeric), matched FROM bench.time_loop(2)") \
	|| fail "the PL/pgSQL loop failed"
LOOP_SCALED=$(awk -v t="$LOOP_MS" -v a="$ROWS" -v b="$LOOP_ROWS" 'BEGIN { printf "%.0f", t * a / b }')
IFS='|' read -r l_applied l_correct l_matchable l_found _ _ < <(sql -c "SELECT * FROM bench.quality(2)")
echo "(ii)  PL/pgSQL loop, $LOOP_ROWS payments: $LOOP_MS ms, scaled to $ROWS: $LOOP_SCALED ms;" \
	"applied $l_applied, right $l_correct, recall $l_found/$l_matchable"

# -- (iii) one client call per payment ---------------------------------------------------
sql -c "CHECKPOINT" >/dev/null
first=$(sql -c "SELECT min(id) FROM ar.payment WHERE entity_id = 3")
sql -c "CREATE SEQUENCE bench.erp_next START $first" >/dev/null
echo "SELECT bench.match_one(nextval('bench.erp_next'));" >"$OUT/erp.sql"
chmod 644 "$OUT/erp.sql"
pgbench -n -c 1 -j 1 -t "$ERP_ROWS" -f "$OUT/erp.sql" "$DB" >"$OUT/erp.log" 2>&1 \
	|| { cat "$OUT/erp.log" >&2; fail "pgbench (iii) failed"; }
grep -qE '^number of failed transactions: 0 ' "$OUT/erp.log" || { cat "$OUT/erp.log" >&2; fail "pgbench (iii) had errors"; }
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$OUT/erp.log")
ERP_MS=$(awk -v n="$ERP_ROWS" -v tps="$tps" 'BEGIN { printf "%.0f", n / tps * 1000 }')
ERP_SCALED=$(awk -v t="$ERP_MS" -v a="$ROWS" -v b="$ERP_ROWS" 'BEGIN { printf "%.0f", t * a / b }')
IFS='|' read -r e_applied e_correct e_matchable e_found _ _ < <(sql -c "SELECT * FROM bench.quality(3)")
echo "(iii) one client call per payment, $ERP_ROWS payments: $ERP_MS ms ($tps calls/s)," \
	"scaled to $ROWS: $ERP_SCALED ms; applied $e_applied, right $e_correct, recall $e_found/$e_matchable"

# -- ar.match_payments --------------------------------------------------------------------
sql -c "CHECKPOINT" >/dev/null
sql >"$OUT/ar.out" 2>"$OUT/ar.err" <<'SQL' || { cat "$OUT/ar.err" >&2; fail "ar.match_payments failed"; }
SELECT 'before', substring(s from 'VmHWM:\s*(\d+)'), substring(s from 'RssAnon:\s*(\d+)'),
       substring(s from 'RssShmem:\s*(\d+)') FROM pg_read_file('/proc/self/status') s;
SET client_min_messages = debug1;
SELECT 'ar', round(ms::numeric), result FROM bench.time_match(1);
RESET client_min_messages;
SELECT 'after', substring(s from 'VmHWM:\s*(\d+)'), substring(s from 'RssAnon:\s*(\d+)'),
       substring(s from 'RssShmem:\s*(\d+)') FROM pg_read_file('/proc/self/status') s;
SQL
IFS='|' read -r _ hwm0 anon0 shm0 < <(grep '^before|' "$OUT/ar.out")
IFS='|' read -r _ AR_MS AR_RESULT < <(grep '^ar|' "$OUT/ar.out")
IFS='|' read -r _ hwm1 anon1 shm1 < <(grep '^after|' "$OUT/ar.out")
DETAIL=$(grep -o 'ar.match_payments: .*' "$OUT/ar.err" | head -n 1 || true)
IFS='|' read -r applied correct matchable found _ _ < <(sql -c "SELECT * FROM bench.quality(1)")
echo "ar    ar.match_payments(1), $ROWS payments: $AR_MS ms"
echo "      result: $AR_RESULT"
echo "      ${DETAIL:-(no DEBUG1 detail)}"
echo "      backend VmHWM $((hwm1 / 1024)) MB (before the call $((hwm0 / 1024)) MB);" \
	"after: RssShmem $((shm1 / 1024)) MB, RssAnon $((anon1 / 1024)) MB"

# -- checks --------------------------------------------------------------------------------
bad=$(sql -c "SELECT count(*) FROM (
                SELECT i.id FROM ar.invoice i JOIN ar.allocation a ON a.invoice_id = i.id
                 WHERE a.reversed_at IS NULL GROUP BY i.id
                HAVING i.total - ar.sum(a.amount) <> i.open_amount) x")
[ "$bad" -eq 0 ] || fail "$bad invoices whose open amount is not total minus allocations"
bad=$(sql -c "SELECT count(*) FROM (
                SELECT p.id FROM ar.payment p JOIN ar.allocation a ON a.payment_id = p.id
                 WHERE a.reversed_at IS NULL GROUP BY p.id
                HAVING p.amount - ar.sum(a.amount) <> p.unallocated) x")
[ "$bad" -eq 0 ] || fail "$bad payments whose unallocated amount is not amount minus allocations"
n_alloc=$(sql -c "SELECT count(DISTINCT payment_id) FROM ar.allocation a JOIN ar.payment p ON p.id = a.payment_id WHERE p.entity_id = 1")
[ "$n_alloc" -eq "$applied" ] || fail "allocations of $n_alloc payments, quality counted $applied"

PRECISION=$(awk -v c="$correct" -v a="$applied" 'BEGIN { printf "%.4f", (a > 0 ? 100 * c / a : 0) }')
RECALL=$(awk -v f="$found" -v m="$matchable" 'BEGIN { printf "%.4f", 100 * f / m }')
WRONG=$((applied - correct))

# -- report --------------------------------------------------------------------------------
R_FLOOR=$(bench_ratio "$AR_MS" "$FLOOR")
R_LOOP=$(bench_ratio "$LOOP_SCALED" "$AR_MS")
R_ERP=$(bench_ratio "$ERP_SCALED" "$AR_MS")
echo
printf '%-58s %12s %10s\n' "$ROWS payments against $ROWS open invoices" "ms" "ar vs it"
printf '%-58s %12s %10s\n' "(i)   SQL hash join, exact reference only (floor)" "$FLOOR" "${R_FLOOR}x the time"
printf '%-58s %12s %10s\n' "(ii)  PL/pgSQL loop, per payment (scaled from $LOOP_ROWS)" "$LOOP_SCALED" "${R_LOOP}x faster"
printf '%-58s %12s %10s\n' "(iii) one client call per payment (scaled from $ERP_ROWS)" "$ERP_SCALED" "${R_ERP}x faster"
printf '%-58s %12s %10s\n' "(iv)  bookkeeping floor: (i)'s matches written, plain SQL" "$BOOK_MS" \
	"$(bench_ratio "$AR_MS" "$BOOK_MS")x the time"
printf '%-58s %12s %10s\n' "      same on lean tables (unique indexes, HOT updates)" "$LEAN_MS" \
	"$(bench_ratio "$AR_MS" "$LEAN_MS")x the time"
printf '%-58s %12s\n' "ar.match_payments, all rules and bookkeeping" "$AR_MS"
echo
echo "(iv) writes what (i)'s $((ROWS * 8 / 10)) reference matches must leave behind and nothing else (an"
echo "     allocation, the invoice's and the payment's new amounts and statuses, an audit row with"
echo "     a sha256 for each), in one plain SQL statement on copies of the tables without triggers,"
echo "     checks or foreign keys: $(bench_ratio "$BOOK_MS" "$FLOOR")x the time of (i) with ar's indexes, $(bench_ratio "$LEAN_MS" "$FLOOR")x on lean tables;"
echo "     (iii) is $(bench_ratio "$ERP_SCALED" "$BOOK_MS")x and $(bench_ratio "$ERP_SCALED" "$LEAN_MS")x slower than them.  ar writes all $applied applied payments."
echo
echo "precision: $PRECISION% ($correct of $applied automatically applied payments on their true invoice; $WRONG wrong)"
echo "recall:    $RECALL% ($found of $matchable matchable payments applied to their true invoice)"
echo "memory:    backend peak RSS (VmHWM) $((hwm1 / 1024)) MB, of which shared buffers touched $((shm1 / 1024)) MB"
echo
bench_goal "ar.match_payments at most 3x the floor (i)" "$R_FLOOR" 3
bench_goal "ar.match_payments at most 2x the floor (i) (stretch)" "$R_FLOOR" 2
goal_min "at least 3x faster than the PL/pgSQL loop (ii)" "$R_LOOP" 3
goal_min "at least 50x faster than per-payment client calls (iii)" "$R_ERP" 50
goal_min "precision 100% (no wrong automatic match)" "$PRECISION" 100
goal_min "recall at least 99% of the matchable payments" "$RECALL" 99
