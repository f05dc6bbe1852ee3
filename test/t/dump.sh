#!/usr/bin/env bash
# test/t/dump.sh: every table of ar survives pg_dump and pg_restore intact
# (CONTRACT.md §10).
#
# 1. A throwaway cluster; database ar_dump with ar, filled through the public
#    interface: two entities (SE, NO) with invoice, credit-note and export
#    series, customers, fx rates, sales orders delivered into invoices
#    (drafts and auto-issued), invoices issued one at a time and in bulk, a
#    draft left as it is, credit notes (ar.credit), outbox rows claimed and
#    reported (one sent, one failed), payments (source manual) allocated
#    with ar.allocate (partly and in full), one ar.unallocate, a debit, a
#    match suggestion; plus objects of the user's own that depend on ar (a
#    table with a foreign key to ar.customer, a view over ar.invoice).
# 2. pg_dump in custom and in plain format, restored the way a user does it:
#    pg_restore -d NEWDB FILE into a database made with CREATE DATABASE, in
#    the same cluster and in a second, new cluster (another server: other
#    transaction ids, no roles or databases but the defaults); psql -f of
#    the plain dump, and of a plain dump made with --inserts (INSERT
#    statements instead of COPY).  pg_dump and the restores must say nothing
#    on stderr and exit 0.
# 3. The relations are enumerated from the catalogs, never listed here: the
#    tables and sequences that are members of the extension (pg_depend
#    deptype 'e') and the sequences owned by their columns (identity).
#    Every one must be registered with pg_extension_config_dump; the
#    reference tables (registered with a condition such as 'WHERE false')
#    must hold exactly what CREATE EXTENSION puts in them, once; every table
#    must have the same row count and the same md5 over its rows in text
#    form, sorted, every sequence the same last_value and is_called; the
#    user's own table and view too.  On a difference the rows that differ
#    are shown.  pg_dump of a restored database must equal pg_dump of the
#    original.
# 4. The restored databases keep working: ar.verify_series is silent for
#    every series, ar.verify_audit() too where it exists; no identity
#    sequence is behind its column; in every entity a new customer, two
#    invoices, a credit note, a payment allocated in full and a sales order
#    go in, and each new document carries the highest number of its series
#    and period before it plus one; ar.verify_series and ar.verify_audit()
#    are still silent afterwards.
#
# Every check prints PASS or FAIL with details; the script goes on after a
# failed check so that one run shows all of them, and exits 1 if any failed.
# It stops at once (FAIL and exit 1) only when it cannot go on: a cluster
# that does not start, a fill or pg_dump that fails.
set -uo pipefail
source "$(dirname "$0")/common.bash"

DB=ar_dump			# the original
RDB=ar_restored		# pg_restore of the custom-format dump, same cluster
PDB=ar_plain		# psql -f of the plain-format dump, same cluster
IDB=ar_inserts		# psql -f of a plain-format dump made with --inserts
FDB=ar_fresh		# a bare CREATE EXTENSION, for the reference tables

TMP=$(mktemp -d /tmp/ar-dump.XXXXXX)
# Stops only this script's clusters (test/run.sh exports its own PGDATA).
cleanup() {
	PGHOST=$TMP/pg2 PGDATA=$TMP/pg2/data cluster_stop
	case ${PGDATA:-} in "$TMP"/*) cluster_stop ;; esac
	rm -rf "$TMP"
}
trap cleanup EXIT
t_start=$EPOCHREALTIME
( cluster_start "$TMP/pg2" ) &		# both at once: initdb takes most of the time
pid2=$!
cluster_start "$TMP/pg"
rc1=$?
wait $pid2
rc2=$?
[ $rc1 -eq 0 ] || fail "cannot start the cluster"
[ $rc2 -eq 0 ] || fail "cannot start the second cluster"
MDB="host=$TMP/pg2 dbname=ar_moved"	# pg_restore of the custom-format dump, second cluster

nfail=0
pass() { echo "PASS: $*"; }
bad()  { echo "FAIL: $*"; nfail=$((nfail + 1)); }
indent() { head -n "${1:-20}" | cut -c1-240 | sed 's/^/      /'; }

# q DB ARGS...: psql on DB (a name or a connection string), unaligned, stop
# at the first error.
q() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# gexec DB SQL: runs each statement that SQL returns, fields split by |.
gexec() { printf '%s\n\\gexec\n' "$2" | q "$1" -F '|'; }

# ---------------------------------------------------------------------------
# 1. The original database
# ---------------------------------------------------------------------------
echo "step 1: fill $DB through the public interface"
make_db "$DB" || fail "cannot create database $DB"
q "$DB" >"$TMP/fill.out" 2>&1 <<'SQL' || { cat "$TMP/fill.out"; fail "filling $DB failed (see above)"; }
SET datestyle = ISO, YMD;
SET client_min_messages = warning;

INSERT INTO ar.entity (code, name, country, vat_id, company_id, currency, street, city, postal_code,
					   iban, bic, bankgiro, peppol_scheme, peppol_id, reference_scheme)
VALUES ('SE1', 'Nordvind AB', 'SE', 'SE556677889901', '5566778899', 'SEK', 'Storgatan 1', 'Stockholm',
		'11122', 'SE4550000000058398257466', 'ESSESESS', '5050-1055', '0007', '5566778899', 'ocr'),
	   ('NO1', 'Fjellet AS', 'NO', 'NO912345678MVA', '912345678', 'NOK', 'Karl Johans gate 1', 'Oslo',
		'0154', 'NO9386011117947', NULL, NULL, NULL, NULL, 'kid10');
INSERT INTO ar.series (entity_id, code, kind, pattern, reset, is_default)
SELECT e.id, s.code, s.kind, s.pattern, s.reset, s.dflt
  FROM (VALUES ('SE1', 'INV', 'invoice', 'INV-{YYYY}-{N:6}', 'yearly', true),
			   ('SE1', 'CN', 'credit_note', 'CN{YY}{N:5}', 'yearly', true),
			   ('SE1', 'EXP', 'invoice', 'EXP{N:4}', 'never', false),
			   ('NO1', 'F', 'invoice', '1{N:7}', 'never', true),
			   ('NO1', 'K', 'credit_note', '9{N:7}', 'never', true)) s(ent, code, kind, pattern, reset, dflt)
  JOIN ar.entity e ON e.code = s.ent
 ORDER BY e.id, s.code;
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency, email, channel, peppol_scheme,
						 peppol_id, payment_terms_days, credit_limit, auto_issue, segment)
SELECT e.id, c.no, c.name, c.country, c.currency, c.email, c.channel, c.ps, c.pid, c.terms,
	   c.lim::ar.amount, c.auto, c.segment
  FROM (VALUES ('SE1', 'C100', 'Kund Ett AB', 'SE', 'SEK', 'ekonomi@kundett.se', 'email', NULL, NULL, 30,
				'500000 SEK', false, 'key'),
			   ('SE1', 'C200', 'Auto Handel AB', 'SE', 'SEK', 'faktura@autohandel.se', 'email', NULL, NULL, 10,
				NULL, true, 'standard'),
			   ('SE1', 'C300', 'Exportkunde GmbH', 'DE', 'EUR', 'ap@export.de', 'email', NULL, NULL, 45,
				NULL, false, 'standard'),
			   ('SE1', 'C400', 'Peppol Bygg AB', 'SE', 'SEK', NULL, 'peppol', '0007', '5567778898', 30,
				NULL, false, 'standard'),
			   ('NO1', '1000', 'Ola Nordmann AS', 'NO', 'NOK', 'ola@nordmann.no', 'print', NULL, NULL, 14,
				NULL, false, 'consumer'),
			   ('NO1', '2000', 'Kari Handel AS', 'NO', 'NOK', 'kari@handel.no', 'email', NULL, NULL, 20,
				NULL, true, 'standard'))
	   c(ent, no, name, country, currency, email, channel, ps, pid, terms, lim, auto, segment)
  JOIN ar.entity e ON e.code = c.ent
 ORDER BY e.id, c.no;
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate, source) VALUES
	('EUR', 'SEK', '2026-10-01', 11.1235, 'Riksbank'), ('EUR', 'SEK', '2026-11-02', 11.0480, 'Riksbank'),
	('EUR', 'NOK', '2026-10-01', 11.7010, 'Norges Bank'), ('SEK', 'NOK', '2026-10-01', 1.0523, NULL);

-- drafts dated seven to five weeks ago, issued in one bulk call (SE) and
-- one by one (NO); the documents of the sales orders below are dated today
INSERT INTO ar.invoice (entity_id, customer_id, series_id, currency, issue_date, buyer_reference, note)
SELECT c.entity_id, c.id, s.id, c.currency, current_date - v.ago, 'Ref ' || c.customer_no, v.tag
  FROM (VALUES (1, 'SE1', 'C100', NULL, 52, 'dump-se-1'), (2, 'SE1', 'C100', NULL, 51, 'dump-se-2'),
			   (3, 'SE1', 'C300', 'EXP', 50, 'dump-se-exp'), (4, 'SE1', 'C400', NULL, 48, 'dump-se-3'),
			   (5, 'SE1', 'C100', NULL, 47, 'dump-se-4'), (6, 'SE1', 'C400', NULL, 46, 'dump-se-5'),
			   (7, 'NO1', '1000', NULL, 43, 'dump-no-1'), (8, 'NO1', '1000', NULL, 41, 'dump-no-2'),
			   (9, 'SE1', 'C100', NULL, NULL, 'dump-se-draft'))
	   v(n, ent, cno, series, ago, tag)
  JOIN ar.entity e ON e.code = v.ent
  JOIN ar.customer c ON c.entity_id = e.id AND c.customer_no = v.cno
  LEFT JOIN ar.series s ON s.entity_id = e.id AND s.code = v.series
 ORDER BY v.n;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, description, quantity, unit_code, unit_price,
							 vat_category, vat_rate, vat_exemption_code, vat_exemption_reason)
SELECT i.id, l.no, l.item, l.descr, l.qty, l.unit, l.price, l.cat, l.rate, l.exc, l.exr
  FROM ar.invoice i
 CROSS JOIN (VALUES (1, 'Konsulttimmar', 'Oktober', 12.5, 'HUR', 950.00, 'S', 25, NULL, NULL),
					(2, 'Facklitteratur', NULL, 3, 'C62', 249.50, 'S', 6, NULL, NULL),
					(3, 'Livsmedel', 'Fika', 7, 'C62', 33.33, 'S', 12, NULL, NULL)) l(no, item, descr, qty, unit, price,
																				 cat, rate, exc, exr)
 WHERE i.note LIKE 'dump-%' AND i.note <> 'dump-se-exp' AND l.no <= 1 + i.id % 3;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
							 vat_exemption_code, vat_exemption_reason)
SELECT i.id, 1, 'Maskindel', 4, 1250.75, 'AE', 0, 'VATEX-EU-AE', 'Reverse charge'
  FROM ar.invoice i WHERE i.note = 'dump-se-exp';
SELECT count(*) FROM ar.issue(ARRAY(SELECT i.id FROM ar.invoice i
									 WHERE i.note LIKE 'dump-se-%' AND i.note <> 'dump-se-draft' ORDER BY i.id));
SELECT ar.issue(i.id) FROM ar.invoice i WHERE i.note = 'dump-no-1';
SELECT ar.issue(i.id) FROM ar.invoice i WHERE i.note = 'dump-no-2';

-- sales orders: delivered by UPDATE (a draft), delivered on INSERT for an
-- auto_issue customer (issued at commit), one open, one cancelled
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, currency, buyer_reference)
SELECT c.entity_id, c.id, v.no, c.currency, 'Buyer ' || v.no
  FROM (VALUES (1, 'SO-1', 'C100'), (2, 'SO-3', 'C100'), (3, 'SO-4', 'C400'), (4, 'SO-N1', '1000')) v(n, no, cno)
  JOIN ar.customer c ON c.customer_no = v.cno
 ORDER BY v.n;
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT o.id, l.no, l.item, l.qty, l.price, 25
  FROM ar.sales_order o
 CROSS JOIN (VALUES (1, 'Skruvdragare', 2, 1499.00), (2, 'Bits', 10, 19.90)) l(no, item, qty, price);
UPDATE ar.sales_order SET status = 'delivered', delivered_on = '2026-11-02' WHERE order_no IN ('SO-1', 'SO-N1');
UPDATE ar.sales_order SET status = 'cancelled' WHERE order_no = 'SO-4';
BEGIN;
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, currency, status, delivered_on)
SELECT c.entity_id, c.id, v.no, c.currency, 'delivered', '2026-11-03'
  FROM (VALUES ('SO-2', 'C200'), ('SO-N2', '2000')) v(no, cno)
  JOIN ar.customer c ON c.customer_no = v.cno;
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT o.id, l.no, l.item, l.qty, l.price, l.rate
  FROM ar.sales_order o
 CROSS JOIN (VALUES (1, 'Vinterdäck', 4, 1195.00, 25), (2, 'Handbok', 1, 300, 12)) l(no, item, qty, price, rate)
 WHERE o.order_no IN ('SO-2', 'SO-N2');
COMMIT;
-- the two drafts of delivered orders, issued in one call across both entities
SELECT count(*) FROM ar.issue(ARRAY(SELECT o.invoice_id FROM ar.sales_order o
									 WHERE o.order_no IN ('SO-1', 'SO-N1') ORDER BY o.invoice_id));

-- credit notes, one per entity
SELECT ar.credit(i.id, 'Returned goods') FROM ar.invoice i WHERE i.note = 'dump-se-5';
SELECT ar.credit(o.invoice_id) FROM ar.sales_order o WHERE o.order_no = 'SO-N2';
-- the note of an issued document may change: the credited invoice's row
-- now comes after its credit note's in the table
UPDATE ar.invoice SET note = note || ', credited in full' WHERE note = 'dump-se-5';

-- a delivery agent: claims two outbox rows, one is sent, one fails
BEGIN;
SELECT ar.outbox_done(c.id, c.id = (SELECT min(o.id) FROM ar.outbox o), 'SMTP 451 4.7.1: try again later')
  FROM ar.outbox_claim(2) c;
COMMIT;

-- payments: a partial allocation, a full one, one undone, a debit, an EUR
-- part payment, a full NOK one, and one that the matcher only suggests
INSERT INTO ar.payment (entity_id, bank_ref, booking_date, value_date, amount, reference, remittance,
						payer_name, payer_account, source, kind)
SELECT e.id, v.ref, v.d::date, v.d::date, coalesce(v.amt, i.total::text)::ar.amount,
	   CASE WHEN v.n <> 7 THEN i.payment_reference END,
	   v.rem, v.payer, v.acct, 'manual', v.kind
  FROM (VALUES (1, 'SE1', 'BG-2026-1001', '2026-10-20', '1000.00 SEK', 'dump-se-1', 'Delbetalning', 'Kund Ett AB',
				'SE3550000000054910000003', 'credit'),
			   (2, 'SE1', 'BG-2026-1002', '2026-10-21', NULL, 'dump-se-2', NULL, 'Kund Ett AB', NULL, 'credit'),
			   (3, 'SE1', 'BG-2026-1003', '2026-10-22', '250.00 SEK', 'dump-se-4', 'fel faktura', 'Okänd', NULL, 'credit'),
			   (4, 'SE1', 'BG-2026-1004', '2026-10-22', '35.00 SEK', NULL, 'Bankavgift', NULL, NULL, 'debit'),
			   (5, 'SE1', 'BG-2026-1005', '2026-10-23', '2000.00 EUR', 'dump-se-exp', 'Teilzahlung', 'Exportkunde GmbH',
				'DE89370400440532013000', 'credit'),
			   (6, 'NO1', 'NO-2026-0001', '2026-10-25', NULL, 'dump-no-1', 'KID', 'Ola Nordmann', NULL, 'credit'),
			   (7, 'SE1', 'BG-2026-1006', '2026-10-26', NULL, 'dump-se-3', 'ingen referens', 'PEPPOL BYGG', NULL,
				'credit'))
	   v(n, ent, ref, d, amt, tag, rem, payer, acct, kind)
  JOIN ar.entity e ON e.code = v.ent
  LEFT JOIN ar.invoice i ON i.note = v.tag
 ORDER BY v.n;
SELECT ar.allocate(p.id, i.id, '400.00 SEK') FROM ar.payment p, ar.invoice i
 WHERE p.bank_ref = 'BG-2026-1001' AND i.note = 'dump-se-1';
SELECT ar.allocate(p.id, i.id) FROM ar.payment p, ar.invoice i
 WHERE p.bank_ref = 'BG-2026-1002' AND i.note = 'dump-se-2';
SELECT ar.unallocate(ar.allocate(p.id, i.id)) FROM ar.payment p, ar.invoice i
 WHERE p.bank_ref = 'BG-2026-1003' AND i.note = 'dump-se-4';
SELECT ar.allocate(p.id, i.id) FROM ar.payment p, ar.invoice i
 WHERE p.bank_ref = 'BG-2026-1005' AND i.note = 'dump-se-exp';
SELECT ar.allocate(p.id, i.id) FROM ar.payment p, ar.invoice i
 WHERE p.bank_ref = 'NO-2026-0001' AND i.note = 'dump-no-1';
-- the matcher: BG-2026-1006 has no reference, no known account, and the
-- amount of an open invoice of the customer its payer's name resembles: a
-- suggestion only
SELECT rule, payments FROM ar.match_payments((SELECT id FROM ar.entity WHERE code = 'SE1'))
 WHERE payments > 0 ORDER BY rule;
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM ar.match_suggestion s JOIN ar.payment p ON p.id = s.payment_id
					WHERE p.bank_ref = 'BG-2026-1006') THEN
		RAISE EXCEPTION 'the matcher made no suggestion for BG-2026-1006';
	END IF;
END
$$;

-- the user's own objects that depend on ar
CREATE TABLE public.crm_note (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id bigint NOT NULL REFERENCES ar.customer (id),
	body text NOT NULL
);
INSERT INTO public.crm_note (customer_id, body)
SELECT c.id, 'called about ' || c.customer_no FROM ar.customer c ORDER BY c.id;
CREATE VIEW public.open_items AS
SELECT i.number, i.open_amount, i.due_date FROM ar.invoice i WHERE i.status IN ('issued', 'partially_paid');
SQL

# Bank files and entity access, where ar has them (sections 6 and 10 of
# ar--1.0.sql): a BgMax file and a camt.053 file of test/fixtures/bank, for
# accounts of SE1, and a row of ar.entity_access.
FIX=$(dirname "$0")/../fixtures/bank
q "$DB" -v bgmax="$(base64 -w0 "$FIX/bgmax_extra_refs.txt" 2>/dev/null)" \
	-v camt="$(cat "$FIX/camt053_two_accounts.xml" 2>/dev/null)" >"$TMP/fill2.out" 2>&1 <<'SQL' \
	|| { cat "$TMP/fill2.out"; fail "filling $DB with bank files and entity access failed (see above)"; }
SET client_min_messages = warning;
SELECT to_regclass('ar.bank_account') IS NOT NULL AS have_accounts,
	   to_regprocedure('ar.import_bgmax(bytea,integer)') IS NOT NULL AND :'bgmax' <> '' AS have_bgmax,
	   to_regprocedure('ar.import_camt(xml)') IS NOT NULL AND :'camt' <> '' AS have_camt,
	   to_regclass('ar.entity_access') IS NOT NULL AS have_access \gset
\if :have_accounts
INSERT INTO ar.bank_account (entity_id, account, currency, note)
SELECT e.id, a.account, 'SEK', a.note FROM ar.entity e
 CROSS JOIN (VALUES ('991-2346', 'bankgiro for BgMax'), ('SE35 5000 0000 0549 1000 0003', 'second account')) a(account, note)
 WHERE e.code = 'SE1';
\endif
\if :have_bgmax
SELECT 'bgmax: ' || ar.import_bgmax(decode(:'bgmax', 'base64'), (SELECT e.id FROM ar.entity e WHERE e.code = 'SE1'));
\endif
\if :have_camt
SELECT 'camt: ' || ar.import_camt(:'camt'::xml);
\endif
\if :have_access
INSERT INTO ar.entity_access (role_name, entity_id) SELECT 'ar_clerk', e.id FROM ar.entity e WHERE e.code = 'SE1';
\endif
-- jobs: a default changed (dumped from then on, replacing the one CREATE
-- EXTENSION makes again), defaults unchanged (not dumped), one's own, and
-- the history of a run by hand
UPDATE ar.job SET enabled = false WHERE name = 'run_dunning';
INSERT INTO ar.job (name, schedule, command, time_zone) VALUES ('nightly_kpis', '15 2 * * *', 'SELECT ar.refresh_kpis()', 'Europe/Oslo');
SELECT 'job: ' || (ar.run_job('nightly_kpis')).status;
SQL
say "bank files: $(grep -E '^(bgmax|camt): ' "$TMP/fill2.out" | tr '\n' ' ')"

# Whatever else the extension offers by now and the fill above does not
# reach shows up as an empty table (see step 3).
say "$(q "$DB" -c "SELECT count(*) FILTER (WHERE status <> 'draft') || ' documents issued (' ||
						  count(*) FILTER (WHERE kind = 'credit_note') || ' credit notes), ' ||
						  count(*) FILTER (WHERE status = 'draft') || ' draft(s), statuses: ' ||
						  (SELECT string_agg(s || ' ' || n, ', ' ORDER BY s)
							 FROM (SELECT status::text, count(*) FROM ar.invoice GROUP BY 1) x(s, n))
					 FROM ar.invoice")"
say "$(q "$DB" -c "SELECT count(*) || ' payments (' || string_agg(DISTINCT status, '/') || '), ' ||
						  (SELECT count(*) FROM ar.allocation) || ' allocations (' ||
						  (SELECT count(*) FROM ar.allocation WHERE reversed_at IS NOT NULL) || ' reversed), ' ||
						  (SELECT count(*) FROM ar.outbox) || ' outbox rows (' ||
						  (SELECT string_agg(status || ' ' || n, ', ' ORDER BY status)
							 FROM (SELECT status, count(*) FROM ar.outbox GROUP BY 1) x(status, n)) || ')'
					 FROM ar.payment")"

# The extension's relations, from the catalogs: members of the extension
# (tables, partitioned tables, sequences) and the sequences owned by their
# columns.  One line per relation: name|relkind|registered|condition.
RELS_SQL="
WITH ext AS (SELECT e.oid, e.extconfig, e.extcondition FROM pg_catalog.pg_extension e WHERE e.extname = 'ar'),
member AS (
	SELECT d.objid AS oid FROM pg_catalog.pg_depend d, ext
	 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
	   AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
	SELECT c.oid FROM pg_catalog.pg_class c JOIN member m ON m.oid = c.oid WHERE c.relkind IN ('r', 'p', 'S')
	UNION
	SELECT d.objid FROM pg_catalog.pg_depend d JOIN member m ON m.oid = d.refobjid
	  JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
	 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
	   AND d.deptype IN ('a', 'i')
)
SELECT format('%I.%I', n.nspname, c.relname), c.relkind,
	   c.oid = ANY (ext.extconfig),
	   coalesce(ext.extcondition[array_position(ext.extconfig, c.oid)], '')
  FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace, ext
 ORDER BY 1"
# The user's tables and views in schema public.
USER_RELS_SQL="
SELECT format('%I.%I', n.nspname, c.relname), c.relkind FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') ORDER BY 1"

q "$DB" -c "$RELS_SQL" >"$TMP/rels.src" || fail "cannot list the relations of ar"
q "$DB" -c "$USER_RELS_SQL" >"$TMP/userrels" || fail "cannot list the user's relations"
n_tab=$(grep -c '|[rp]|' "$TMP/rels.src")
n_seq=$(grep -c '|S|' "$TMP/rels.src")
if [ "$n_tab" -eq 0 ] || [ "$n_seq" -eq 0 ]; then
	fail "found $n_tab tables and $n_seq sequences of ar in the catalogs"
fi
say "ar has $n_tab tables and $n_seq sequences (from pg_depend): $(cut -d'|' -f1 "$TMP/rels.src" | tr '\n' ' ')"

# ---------------------------------------------------------------------------
# The state of a database: one line per relation.
#   T|name|row count|md5 of the rows as text, sorted   (tables and views)
#   S|name|last_value|is_called                        (sequences)
# ---------------------------------------------------------------------------
TABLES_GEXEC="SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text), '''')) FROM %s t', 'T|' || x, x) FROM (VALUES @VALUES@) v(x)"
SEQS_GEXEC="SELECT format('SELECT %L, last_value, is_called FROM %s', 'S|' || x, x) FROM (VALUES @VALUES@) v(x)"

# values_list FILE RELKIND-REGEX: ('a'), ('b') of the relations of that kind.
values_list() {
	awk -F'|' -v k="$2" '$2 ~ "^(" k ")$" { printf "%s(%s)", (n++ ? ", " : ""), "'\''" $1 "'\''" }' "$1"
}

# state DB OUT: the state of every relation of ar and of the user's.
state() {
	local db=$1 out=$2 tabs seqs utabs
	tabs=$(values_list "$TMP/rels.src" 'r|p')
	seqs=$(values_list "$TMP/rels.src" 'S')
	utabs=$(values_list "$TMP/userrels" 'r|p|v')
	{
		gexec "$db" "${TABLES_GEXEC//@VALUES@/$tabs}" &&
		gexec "$db" "${SEQS_GEXEC//@VALUES@/$seqs}" &&
		{ [ -z "$utabs" ] || gexec "$db" "${TABLES_GEXEC//@VALUES@/$utabs}"; }
	} >"$out" 2>"$out.err"
}

state "$DB" "$TMP/state.src" || { cat "$TMP/state.src.err"; fail "cannot read the state of $DB"; }
empty=$(awk -F'|' '$1 == "T" && $3 == 0 { printf "%s ", $2 }' "$TMP/state.src")
say "rows: $(awk -F'|' '$1 == "T" && $3 > 0 { printf "%s%s %s", (n++ ? ", " : ""), $2, $3 }' "$TMP/state.src")"
[ -z "$empty" ] || say "note: empty in $DB, so their restore is not exercised: $empty"

# Every table and sequence must be registered for pg_dump, or pg_dump
# leaves its rows out.
unreg=$(awk -F'|' '$3 != "t" { printf "%s ", $1 }' "$TMP/rels.src")
if [ -z "$unreg" ]; then
	pass "every table and sequence of ar is registered with pg_extension_config_dump"
else
	bad "not registered with pg_extension_config_dump, so pg_dump leaves them out: $unreg
      fix: in ar--1.0.sql, create them before the last DO block (which registers everything in schema ar),
      or call pg_catalog.pg_extension_config_dump('<name>', '') for them"
fi
refs=$(awk -F'|' '$4 != "" { printf "%s [%s]  ", $1, $4 }' "$TMP/rels.src")
say "registered with a condition (pg_dump takes only the rows that match): ${refs:-none}"

# The original must be sound, or nothing below means much.
VERIFY_AUDIT_SQL="SELECT t::text FROM ar.verify_audit() t"
# sound DB LABEL: ar.verify_series, the numbering and ar.verify_audit().
sound() {
	local db=$1 label=$2 out
	if out=$(q "$db" -c "$VERIFY_ALL_SQL" 2>&1) && [ -z "$out" ]; then
		pass "$label: ar.verify_series returns no rows for every series ($(q "$db" -c "SELECT count(*) FROM ar.series") series)"
	else
		bad "$label: ar.verify_series:
$(echo "$out" | indent)"
	fi
	if out=$(q "$db" -c "$(numbering_sql ar.invoice)" 2>&1) && [ -z "$out" ]; then
		pass "$label: every series and period is numbered 1..n, no gap, no duplicate, counters at the top"
	else
		bad "$label: numbering:
$(echo "$out" | indent)"
	fi
	if [ "$(q "$db" -c "SELECT to_regprocedure('ar.verify_audit()') IS NOT NULL")" != t ]; then
		say "$label: there is no ar.verify_audit() (yet): not checked"
	elif out=$(q "$db" -c "$VERIFY_AUDIT_SQL" 2>&1) && [ -z "$out" ]; then
		pass "$label: ar.verify_audit() returns no rows"
	else
		bad "$label: ar.verify_audit():
$(echo "$out" | indent)"
	fi
}
sound "$DB" "original $DB"

# ---------------------------------------------------------------------------
# 2. Dump and restore
# ---------------------------------------------------------------------------
echo "step 2: pg_dump and restore"
# pg_dump must not fail, and should say nothing: a backup job that mails
# its stderr would otherwise report on every run.
pg_dump -Fc -f "$TMP/ar.dump" "$DB" 2>"$TMP/pg_dump.err" || { cat "$TMP/pg_dump.err"; fail "pg_dump -Fc $DB failed"; }
pg_dump -Fp -f "$TMP/ar.sql" "$DB" 2>"$TMP/pg_dump_p.err" || { cat "$TMP/pg_dump_p.err"; fail "pg_dump -Fp $DB failed"; }
if [ -s "$TMP/pg_dump.err" ] || [ -s "$TMP/pg_dump_p.err" ]; then
	bad "pg_dump $DB exits 0 but writes to stderr:
$(cat "$TMP/pg_dump.err" "$TMP/pg_dump_p.err" | awk '!seen[$0]++' | indent)"
else
	pass "pg_dump -Fc and -Fp of $DB: exit 0, nothing on stderr"
fi
say "dumped: custom format $(stat -c %s "$TMP/ar.dump") bytes, plain $(stat -c %s "$TMP/ar.sql") bytes;" \
	"$(grep -c '^COPY ' "$TMP/ar.sql") COPY blocks, $(grep -c 'pg_catalog.setval' "$TMP/ar.sql") setval calls"

pg_dump -Fp --inserts -f "$TMP/ar.inserts.sql" "$DB" 2>/dev/null || fail "pg_dump -Fp --inserts $DB failed"

q postgres -c "CREATE DATABASE $RDB" -c "CREATE DATABASE $PDB" -c "CREATE DATABASE $IDB" -c "CREATE DATABASE $FDB" \
	|| fail "cannot create the databases to restore into"
q "host=$TMP/pg2 dbname=postgres" -c "CREATE DATABASE ar_moved" || fail "cannot create ar_moved in the second cluster"

# restored LABEL RC ERRFILE: a restore exits 0 and prints nothing on
# stderr (psql prints the results of the dump's SELECTs on stdout).
restored() {
	local label=$1 rc=$2 out=$3
	if [ "$rc" -eq 0 ] && [ ! -s "$out" ]; then
		pass "$label: exit 0, nothing on stderr"
	else
		bad "$label: exit $rc, $(grep -c 'ERROR' "$out") errors:
$(indent 15 <"$out")"
	fi
}
pg_restore -d "$RDB" "$TMP/ar.dump" >"$TMP/restore.out" 2>&1
restored "pg_restore -d $RDB (custom format, same cluster)" $? "$TMP/restore.out"
pg_restore -d "$MDB" "$TMP/ar.dump" >"$TMP/restore2.out" 2>&1
restored "pg_restore -d ar_moved (custom format, second cluster)" $? "$TMP/restore2.out"
# psql goes on after an error, so that step 3 shows what each one cost.
psql -X -q -d "$PDB" -f "$TMP/ar.sql" >/dev/null 2>"$TMP/psql.err"
restored "psql -d $PDB -f (plain format, same cluster)" $? "$TMP/psql.err"
psql -X -q -d "$IDB" -f "$TMP/ar.inserts.sql" >/dev/null 2>"$TMP/psql_ins.err"
restored "psql -d $IDB -f (plain format made with pg_dump --inserts, same cluster)" $? "$TMP/psql_ins.err"
q "$FDB" -c "CREATE EXTENSION ar" || fail "CREATE EXTENSION ar in $FDB failed"

# ---------------------------------------------------------------------------
# 3. Compare
# ---------------------------------------------------------------------------
echo "step 3: compare every table and sequence"

# rows DB TABLE: its rows as text, sorted.
rows() { q "$1" -c "SELECT t::text FROM $2 t ORDER BY 1"; }

# compare TAG DB LABEL: DB against the original, relation by relation.
compare() {
	local tag=$1 db=$2 label=$3 diffs=0 n_ok=0 line kind name a b
	if ! q "$db" -c "$RELS_SQL" >"$TMP/rels.$tag" 2>&1; then
		bad "$label: cannot list the relations of ar: $(head -3 "$TMP/rels.$tag")"
		return
	fi
	if cmp -s "$TMP/rels.src" "$TMP/rels.$tag"; then
		pass "$label: the same $n_tab tables and $n_seq sequences belong to ar, registered the same way"
	else
		bad "$label: the relations of ar or their registration differ (< original, > restored):
$(diff "$TMP/rels.src" "$TMP/rels.$tag" | grep '^[<>]' | indent)"
	fi
	if ! state "$db" "$TMP/state.$tag"; then
		bad "$label: cannot read the state: $(head -3 "$TMP/state.$tag.err")"
		return
	fi
	while IFS='|' read -r kind name a b; do
		line=$(awk -F'|' -v k="$kind" -v n="$name" '$1 == k && $2 == n' "$TMP/state.$tag")
		if [ "$line" = "$kind|$name|$a|$b" ]; then
			n_ok=$((n_ok + 1))
		elif [ "$kind" = S ]; then
			diffs=$((diffs + 1))
			bad "$label: sequence $name: last_value|is_called $a|$b in the original, ${line#S|"$name"|} restored"
		else
			diffs=$((diffs + 1))
			line=${line#T|"$name"|}
			bad "$label: table $name: $a rows in the original, ${line%%|*} restored;" \
				"rows only in the original (<), only in the restored database (>):
$(diff <(rows "$DB" "$name") <(rows "$db" "$name") | grep '^[<>]' | indent 6)"
		fi
	done <"$TMP/state.src"
	if [ "$diffs" -eq 0 ]; then
		pass "$label: all $n_ok tables, views and sequences equal (row counts, md5 of the sorted rows, last_value and is_called)"
	fi
}
compare custom "$RDB" "$RDB (custom, same cluster)"
compare moved "$MDB" "ar_moved (custom, second cluster)"
compare plain "$PDB" "$PDB (plain, same cluster)"
compare inserts "$IDB" "$IDB (plain with --inserts, same cluster)"

# The reference tables (registered with 'WHERE false': CREATE EXTENSION
# fills them, pg_dump takes none of their rows) hold what CREATE EXTENSION
# puts in them, once.
REF_SQL="SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM %s t"
while read -r ref; do
	want=$(q "$FDB" -c "${REF_SQL//%s/$ref}")
	for db in "$DB" "$RDB" "$PDB" "$IDB" "$MDB"; do
		got=$(q "$db" -c "${REF_SQL//%s/$ref}" 2>&1)
		if [ "$got" = "$want" ]; then
			pass "reference table $ref in ${db##*=}: ${want%%,*}, exactly what CREATE EXTENSION makes"
		else
			bad "reference table $ref in ${db##*=}: $got; CREATE EXTENSION makes $want"
		fi
	done
done < <(awk -F'|' 'tolower($4) ~ /^ *where +false *$/ { print $1 }' "$TMP/rels.src")

# A dump of a restored database is the dump of the original: schema,
# grants, the user's objects, data, sequences.  (\restrict and \unrestrict
# carry a random key in each dump.)
dump_equal() {
	local tag=$1 db=$2 label=$3
	if ! pg_dump -Fp -f "$TMP/ar.$tag.sql" "$db" 2>"$TMP/pg_dump.$tag.err"; then
		bad "$label: pg_dump failed: $(indent <"$TMP/pg_dump.$tag.err")"
		return
	fi
	if diff <(grep -v '^\\\(un\)\?restrict ' "$TMP/ar.sql") <(grep -v '^\\\(un\)\?restrict ' "$TMP/ar.$tag.sql") \
		>"$TMP/dump.$tag.diff"; then
		pass "$label: pg_dump of it is the pg_dump of the original ($(wc -l <"$TMP/ar.sql") lines)"
	else
		bad "$label: pg_dump of it differs from the original's (< original, > restored):
$(grep '^[<>]' "$TMP/dump.$tag.diff" | indent)"
	fi
}
dump_equal custom "$RDB" "$RDB (custom, same cluster)"
dump_equal moved "$MDB" "ar_moved (custom, second cluster)"

# ---------------------------------------------------------------------------
# 4. The restored databases keep working
# ---------------------------------------------------------------------------
echo "step 4: the restored databases keep working"

# The next value of every identity or serial sequence of an ar table,
# against the highest value in its column: table.column|next|highest.
IDENT_SQL="
SELECT format('SELECT %L, (SELECT CASE WHEN s.is_called THEN s.last_value + %s ELSE s.last_value END FROM %s s), max(%I) FROM %I.%I',
			  format('%I.%I.%I', n.nspname, c.relname, a.attname), q.seqincrement, q.seqrelid::regclass,
			  a.attname, n.nspname, c.relname)
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ar'
  JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'p')
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_sequence q
	ON q.seqrelid = pg_catalog.pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname)::regclass
 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
   AND d.deptype = 'e'
 ORDER BY 1"

# In every entity: a new customer, two invoices (drafts, then issued in one
# call), a credit note for the first, a payment allocated in full to the
# second, a sales order; and an fx rate.
MORE_SQL="
SET datestyle = ISO, YMD;
SET client_min_messages = warning;
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency)
SELECT e.id, 'NEW-' || e.code, 'Ny kund ' || e.code, e.country, e.currency FROM ar.entity e ORDER BY e.id;
INSERT INTO ar.invoice (entity_id, customer_id, currency, note)
SELECT c.entity_id, c.id, c.currency, 'after-restore-' || g
  FROM ar.customer c CROSS JOIN generate_series(1, 2) g WHERE c.customer_no LIKE 'NEW-%' ORDER BY g, c.id;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT i.id, 1, 'Efter återläsning', 2, 123.45, 25 FROM ar.invoice i WHERE i.note LIKE 'after-restore-%';
SELECT count(*) FROM ar.issue(ARRAY(SELECT i.id FROM ar.invoice i WHERE i.note LIKE 'after-restore-%' ORDER BY i.id));
SELECT count(ar.credit(i.id)) FROM ar.invoice i WHERE i.note = 'after-restore-1';
INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, source)
SELECT i.entity_id, 'AFTER-' || i.id, current_date, i.total, 'manual' FROM ar.invoice i
 WHERE i.note = 'after-restore-2' ORDER BY i.id;
SELECT count(ar.allocate(p.id, i.id)) FROM ar.invoice i JOIN ar.payment p ON p.bank_ref = 'AFTER-' || i.id;
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, currency)
SELECT c.entity_id, c.id, 'SO-AFTER-' || c.id, c.currency FROM ar.customer c WHERE c.customer_no LIKE 'NEW-%';
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'SEK', current_date, 11.0);
"
# The numbered documents that are not in dump_before, each with its seq_no
# and the one it should have: the highest of its series and period among
# the documents of dump_before, plus its rank among the new ones.
NEW_NUMBERS_SQL="
SELECT s.code, i.number, i.seq_no,
	   coalesce((SELECT max(o.seq_no) FROM ar.invoice o JOIN public.dump_before b ON b.id = o.id
				  WHERE o.series_id = i.series_id AND o.seq_period = i.seq_period), 0)
	   + row_number() OVER (PARTITION BY i.series_id, i.seq_period ORDER BY i.seq_no)
  FROM ar.invoice i JOIN ar.series s ON s.id = i.series_id
 WHERE i.id NOT IN (SELECT b.id FROM public.dump_before b) AND i.seq_no IS NOT NULL
 ORDER BY s.id, i.seq_no"

# keeps_working DB LABEL
keeps_working() {
	local db=$1 label=$2 out behind wrong
	sound "$db" "$label"
	if ! out=$(gexec "$db" "$IDENT_SQL" 2>&1); then
		bad "$label: cannot check the identity sequences: $(echo "$out" | indent 5)"
	else
		behind=$(echo "$out" | awk -F'|' '$3 != "" && $2 <= $3 { printf "%s (next %s, highest %s) ", $1, $2, $3 }')
		if [ -z "$behind" ]; then
			pass "$label: all $(echo "$out" | grep -c .) identity sequences of ar tables are ahead of their columns"
		else
			bad "$label: identity sequences behind their columns, the next insert collides: $behind"
		fi
	fi
	q "$db" -c "CREATE TABLE public.dump_before AS SELECT id FROM ar.invoice" || fail "$label: cannot note the documents"
	if out=$(q "$db" -o /dev/null -c "$MORE_SQL" 2>&1); then
		pass "$label: new customers, invoices, credit notes, payments, allocations, sales orders, outbox rows and an fx rate go in"
	else
		bad "$label: working on after the restore failed (so the numbers of new documents are not checked):
$(echo "$out" | indent 8)"
		return
	fi
	if ! out=$(q "$db" -F ' ' -c "$NEW_NUMBERS_SQL" 2>&1) || [ -z "$out" ]; then
		bad "$label: no new numbered document to check: $out"
	else
		wrong=$(echo "$out" | awk '$3 != $4 { printf "%s %s has seq_no %s, want %s; ", $1, $2, $3, $4 }')
		if [ -z "$wrong" ]; then
			pass "$label: the new documents continue their series: $(echo "$out" | awk '{ printf "%s%s", (n++ ? ", " : ""), $2 }')"
		else
			bad "$label: the series do not continue after the restore: $wrong"
		fi
	fi
	say "$label, after the new documents:"
	sound "$db" "$label"
}
keeps_working "$RDB" "$RDB (same cluster)"
keeps_working "$MDB" "ar_moved (second cluster)"

echo "dump: $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t_start }")s"
if [ "$nfail" -ne 0 ]; then
	echo "dump: $nfail checks FAILED"
	exit 1
fi
echo "dump: all checks passed"
