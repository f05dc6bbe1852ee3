# test/t/common.bash: helpers shared by the scripts in test/t/.  Source it,
# do not run it (test/run.sh runs only test/t/*.sh, so this file is skipped).
#
# AR_TEST_SABOTAGE shows the failure path of a test, which must then fail:
#   gap, dup: check_numbering looks at a broken copy of ar.invoice (the
#             middle number removed, or doubled) instead of ar.invoice;
#   realgap:  check_numbering first deletes the middle number from ar.invoice
#             itself (in the throwaway cluster), so ar.verify_series sees it.

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DB=${DB:-ar_t}

say()  { echo "  $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# test_cluster NAME [postgresql.conf lines...]: a throwaway cluster in a new
# directory /tmp/ar-NAME.XXXXXX (kept in TMP, for the script's own files
# too), stopped and removed when the script exits.
test_cluster() {
	local name=$1; shift
	TMP=$(mktemp -d "/tmp/ar-$name.XXXXXX")
	trap 'cluster_stop; rm -rf "$TMP"' EXIT
	cluster_start "$TMP/pg" "$@" || fail "cannot start the cluster"
}

# sql ARGS...: psql on $DB, unaligned, stop at the first error.
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# One entity with a yearly default invoice series and 8 customers.
setup_books() {
	make_db "$DB" || fail "cannot create database $DB"
	sql >/dev/null <<'SQL' || fail "setup of entity, series and customers failed"
INSERT INTO ar.entity (code, name, country, vat_id, currency, iban, reference_scheme)
VALUES ('SE1', 'Nordvind AB', 'SE', 'SE556677889901', 'SEK', 'SE4550000000058398257466', 'ocr');
INSERT INTO ar.series (entity_id, code, kind, pattern, reset)
VALUES (1, 'INV', 'invoice', 'INV-{YYYY}-{N:6}', 'yearly');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency)
SELECT 1, 'C' || g, 'Kund ' || g || ' AB', 'SE', 'SEK' FROM generate_series(1, 8) g;
SQL
}

# numbering_sql TABLE: a query over TABLE (ar.invoice or a copy of it) that
# returns one text row per problem and no rows when, for every series and
# period, the numbered documents carry exactly the numbers 1..count, each
# once, with distinct number strings that match the series pattern, and the
# counter in ar.series_counter equals the highest number.
numbering_sql() {
	local tbl=$1
	cat <<SQL
WITH d AS (
	SELECT i.id, i.entity_id, i.series_id, i.seq_period, i.seq_no, i.number, i.issue_date
	  FROM $tbl i WHERE i.seq_no IS NOT NULL OR i.number IS NOT NULL
), per AS (
	SELECT d.series_id, d.seq_period, count(*) AS n, count(DISTINCT d.seq_no) AS n_seq,
		   count(DISTINCT d.number) AS n_num, min(d.seq_no) AS lo, max(d.seq_no) AS hi
	  FROM d GROUP BY d.series_id, d.seq_period
)
SELECT format('series %s period %s: %s documents, %s distinct seq_no, %s distinct numbers, seq_no %s..%s (want exactly 1..%s)',
			  p.series_id, p.seq_period, p.n, p.n_seq, p.n_num, p.lo, p.hi, p.n)
  FROM per p WHERE NOT (p.n = p.n_seq AND p.n = p.n_num AND p.lo = 1 AND p.hi = p.n)
UNION ALL
SELECT format('series %s period %s: counter at %s but the highest number is %s',
			  coalesce(c.series_id, p.series_id), coalesce(c.period, p.seq_period), c.last_value, p.hi)
  FROM ar.series_counter c
  FULL JOIN per p ON p.series_id = c.series_id AND p.seq_period = c.period
 WHERE c.last_value IS DISTINCT FROM coalesce(p.hi, 0)
UNION ALL
SELECT format('entity %s: number %s is used %s times', d.entity_id, d.number, count(*))
  FROM d GROUP BY d.entity_id, d.number HAVING count(*) > 1
UNION ALL
SELECT format('invoice %s: seq_no %s but number %s (the pattern gives %s)',
			  d.id, d.seq_no, d.number, ar.format_number(s.pattern, d.seq_no, d.issue_date))
  FROM d LEFT JOIN ar.series s ON s.id = d.series_id
 WHERE d.number IS DISTINCT FROM ar.format_number(s.pattern, d.seq_no, d.issue_date)
LIMIT 20
SQL
}

# verify_all: ar.verify_series over every series, one row per problem.
VERIFY_ALL_SQL="SELECT s.code || ': ' || v.problem || ': ' || v.detail
  FROM ar.series s CROSS JOIN LATERAL ar.verify_series(s.id) v"

# check_numbering LABEL: (a) ar.verify_series is silent for every series,
# (b) numbering_sql finds nothing; prints what it found per series/period.
check_numbering() {
	local label=$1 tbl=ar.invoice out
	if [ -n "${AR_TEST_SABOTAGE:-}" ]; then
		tbl=public.sabotaged_invoice
		sql -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $tbl" \
			-c "CREATE TABLE $tbl AS SELECT * FROM ar.invoice" || fail "cannot make the sabotaged copy"
		case $AR_TEST_SABOTAGE in
			gap) sql -c "DELETE FROM $tbl WHERE seq_no = (SELECT (max(seq_no) + 1) / 2 FROM $tbl)" ;;
			dup) sql -c "INSERT INTO $tbl SELECT * FROM $tbl WHERE seq_no = (SELECT (max(seq_no) + 1) / 2 FROM $tbl)" ;;
			realgap)
				tbl=ar.invoice
				sql -c "SET session_replication_role = replica" \
					-c "DELETE FROM ar.invoice WHERE seq_no = (SELECT (max(seq_no) + 1) / 2 FROM ar.invoice)" ;;
			*) fail "AR_TEST_SABOTAGE must be gap, dup or realgap" ;;
		esac
		say "SABOTAGE ($AR_TEST_SABOTAGE): the numbering checks look at $tbl, deliberately broken"
	fi
	out=$(sql -c "$VERIFY_ALL_SQL") || fail "$label: ar.verify_series failed to run"
	[ -z "$out" ] || fail "$label: ar.verify_series reports problems:
$out"
	say "ok: ar.verify_series returns no rows for every series"
	out=$(sql -c "SELECT coalesce(audit_id::text, 'seal ' || seal_seq) || ': ' || problem FROM ar.verify_audit()") \
		|| fail "$label: ar.verify_audit failed to run"
	[ -z "$out" ] || fail "$label: ar.verify_audit reports a broken link: $out"
	out=$(sql -c "SELECT count(*) FROM ar.invoice i WHERE i.number IS NOT NULL AND NOT EXISTS (
					SELECT 1 FROM ar.audit a WHERE a.table_name = 'invoice' AND a.row_key = i.id::text
					   AND a.data->>'number' = i.number)") || fail "$label: the audit coverage check failed to run"
	[ "$out" = 0 ] || fail "$label: $out numbered documents have no audit row with their number"
	sql -F ' ' -c "SELECT format('ok: ar.verify_audit returns no rows; %s audit rows in %s seals, every numbered document audited',
					(SELECT count(*) FROM ar.audit), (SELECT count(*) FROM ar.audit_seal))" | sed 's/^/  /'
	out=$(sql -c "$(numbering_sql "$tbl")") || fail "$label: the numbering check failed to run"
	[ -z "$out" ] || fail "$label: the numbering is not gapless:
$out"
	sql -F ' ' -c "
		SELECT format('ok: series %s period %s: %s documents numbered %s..%s, %s distinct numbers, counter at %s',
					  s.code, i.seq_period, count(*), min(i.seq_no), max(i.seq_no), count(DISTINCT i.number),
					  min(c.last_value))
		  FROM ar.invoice i JOIN ar.series s ON s.id = i.series_id
		  LEFT JOIN ar.series_counter c ON c.series_id = i.series_id AND c.period = i.seq_period
		 WHERE i.seq_no IS NOT NULL GROUP BY s.code, i.seq_period ORDER BY 1" | sed 's/^/  /'
}

# checks_can_fail: the checks above must notice a broken series.  Inside a
# transaction that is rolled back, one numbered document in the middle is
# deleted (with triggers and foreign keys off): ar.verify_series must report
# a gap and numbering_sql a problem.  Then a temporary copy of ar.invoice
# with one number doubled must make numbering_sql report a duplicate.
checks_can_fail() {
	local out
	out=$(sql 2>&1 <<SQL
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM ar.invoice WHERE seq_no IS NOT NULL
   AND (series_id, seq_period, seq_no) = (SELECT series_id, seq_period, (max(seq_no) + 1) / 2 FROM ar.invoice
										   WHERE seq_no IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1);
SELECT 'verify_series: ' || x FROM ($VERIFY_ALL_SQL) q(x);
SELECT 'numbering: ' || x FROM ($(numbering_sql ar.invoice)) q(x);
ROLLBACK;
CREATE TEMP TABLE doubled AS SELECT * FROM ar.invoice;
INSERT INTO doubled SELECT * FROM ar.invoice WHERE seq_no IS NOT NULL ORDER BY seq_no DESC LIMIT 1;
SELECT 'doubled: ' || x FROM ($(numbering_sql doubled)) q(x);
SQL
	) || fail "the self-test of the checks did not run: $out"
	grep -q '^verify_series: INV: gap' <<<"$out" || fail "ar.verify_series did not see a deleted number:
$out"
	grep -q '^numbering: ' <<<"$out" || fail "the numbering check did not see a deleted number:
$out"
	grep -q '^doubled: .*used 2 times' <<<"$out" || fail "the numbering check did not see a doubled number:
$out"
	say "ok: the checks do fail on a broken series (rolled-back deletion of a middle number, a doubled copy):"
	# (here-strings, not echo into a reader that stops early: under pipefail
	# the writer's SIGPIPE failed the check now and then)
	sed -n '1p;/^numbering: /{p;q}' <<<"$out" | sed 's/^/      /'
	grep -m1 '^doubled: ' <<<"$out" | sed 's/^/      /'
}

# wait_open LABEL: wait (up to 5 s) until a session of $DB runs the statement
# that selects the string LABEL, i.e. holds its transaction open.
wait_open() {
	for _ in $(seq 1 100); do
		[ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'
					  AND query LIKE '%''$1''%' AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ] && return 0
		sleep 0.05
	done
	fail "no session reached the statement '$1'"
}

# lock_waited SQL: prints yes once a session of $DB running exactly SQL
# waits on a lock (polled for 3 s), else no.
lock_waited() {
	for _ in $(seq 1 60); do
		if [ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'
						 AND query = \$q\$$1\$q\$ AND wait_event_type = 'Lock'")" = 1 ]; then
			echo yes
			return
		fi
		sleep 0.05
	done
	echo no
}

# race NAME A_SQL LABEL B_SQL: session A runs A_SQL, a transaction that
# selects LABEL and then sleeps with the transaction open; once it is open,
# session B runs B_SQL.  Sets RACE_WAITED (yes when B was seen waiting on a
# lock, within 3 s) and RACE_B_RC (B's exit code); the outputs are
# $TMP/NAME.a and $TMP/NAME.b.  Fails when A fails.
race() {
	local name=$1 a_sql=$2 label=$3 b_sql=$4 a_pid b_pid
	sql <<<"$a_sql" >"$TMP/$name.a" 2>&1 &
	a_pid=$!
	wait_open "$label"
	psql -X -q -At -d "$DB" -c "$b_sql" >"$TMP/$name.b" 2>&1 &
	b_pid=$!
	RACE_WAITED=$(lock_waited "$b_sql")
	wait "$a_pid" || { cat "$TMP/$name.a"; fail "$name: session A failed"; }
	wait "$b_pid" && RACE_B_RC=0 || RACE_B_RC=$?
}

# single_issue_script FILE: a pgbench script that inserts a draft with one
# line for a random customer 1..8, issues it with ar.issue() and rolls back
# about one time in ten (after the number was given), else commits.  The
# draft is tagged in invoice.note with the pgbench variable tag
# (pgbench -D tag="'p1'": pgbench pastes the value, quotes and all).
single_issue_script() {
	cat >"$1" <<'EOF'
\set r random(1, 10)
\set c random(1, 8)
BEGIN;
INSERT INTO ar.invoice (entity_id, customer_id, currency, note) VALUES (1, :c, 'SEK', :tag) RETURNING id \gset
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (:id, 1, 'Widget', :r, 10.50, 'S', 25);
SELECT ar.issue(:id);
\if :r = 1
ROLLBACK;
\else
COMMIT;
\endif
EOF
}
