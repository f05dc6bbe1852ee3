#!/usr/bin/env bash
# test/t/isolation.sh: audited writes under REPEATABLE READ and SERIALIZABLE.
#
# Every audited transaction links its rows into one hash chain at commit
# (ar.audit_seal).  A transaction whose snapshot is older than the last
# seal must still link to the real head: before the seal was written in C
# it failed at COMMIT with "could not serialize access due to concurrent
# update" under REPEATABLE READ, and SERIALIZABLE transactions failed each
# other as pivots between one seal and the next.
#
# Part 1, per level: session A takes its snapshot and waits; session B
# commits an audited write meanwhile; then A writes and commits.  Both
# commit, and the chain is whole.
# Part 2, per level: 8 pgbench sessions insert invoice lines for
# AR_ISOLATION_SECONDS (default 4): no transaction fails, every line has its
# audit row, every transaction its own seal, and ar.verify_audit is silent.
#
# Issuing takes its series' lock, then reads and moves the counter with a
# snapshot taken under it (ar._take_numbers); before, a REPEATABLE READ
# issuer failed on the counter row whenever another issuer had committed
# since its snapshot (85% of the transactions of 8 sessions).
# Part 3: 8 REPEATABLE READ sessions issue one draft per transaction, a
# tenth rolled back after ar.issue: no transaction fails, and the numbers
# run 1..count without a gap (check_numbering).
# Part 4: the same under SERIALIZABLE, with pgbench retrying serialization
# failures: SSI's page-level predicate locks on the indexes every new
# invoice and line goes into make concurrent issuers abort each other, so
# some transactions are retried, but every failure is a serialization
# failure (no other error, no deadlock), and the numbering stays gapless.
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_isolation
SECS=${AR_ISOLATION_SECONDS:-4}

test_cluster isolation "max_connections = 50"
setup_books
sql >/dev/null <<'SQL' || fail "setup of the drafts failed"
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date)
SELECT 1, g, 'SEK', '2026-11-02' FROM generate_series(1, 8) g;
CREATE SEQUENCE public.line_no;
SQL

line_sql() {	# line_sql INVOICE: insert one line into a draft
	echo "INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
	      VALUES ($1, nextval('public.line_no'), 'Konsult', 1, 100, 25);"
}

chain_ok() {	# chain_ok LABEL: ar.verify_audit returns no rows
	local out
	out=$(sql -c "SELECT coalesce(audit_id::text, 'seal ' || seal_seq) || ': ' || problem FROM ar.verify_audit()") \
		|| fail "$1: ar.verify_audit failed to run"
	[ -z "$out" ] || fail "$1: ar.verify_audit reports a broken link: $out"
}

for level in 'REPEATABLE READ' 'SERIALIZABLE'; do
	echo "part 1, $level: a snapshot older than the last seal"
	seals0=$(sql -c "SELECT count(*) FROM ar.audit_seal")
	# race fails when session A (psql with ON_ERROR_STOP) fails, COMMIT included
	race "p1-${level// /-}" "BEGIN ISOLATION LEVEL $level;
SELECT count(*) FROM ar.invoice_line;
SELECT 'a has its snapshot', pg_sleep(1.5);
$(line_sql 1)
COMMIT;" 'a has its snapshot' "$(line_sql 2)"
	[ "$RACE_B_RC" -eq 0 ] || { cat "$TMP/p1-${level// /-}.b"; fail "$level: session B failed"; }
	read -r seals lines_a < <(sql -F ' ' -c "SELECT (SELECT count(*) FROM ar.audit_seal),
		(SELECT count(*) FROM ar.invoice_line WHERE invoice_id = 1)")
	[ "$seals" -eq $((seals0 + 2)) ] || fail "$level: $((seals - seals0)) new seals, want 2 (one per transaction)"
	[ "$lines_a" -ge 1 ] || fail "$level: session A's line is missing"
	chain_ok "$level part 1"
	say "ok: A (snapshot before B's commit) and B both committed; 2 new seals; ar.verify_audit silent"
done

cat >"$TMP/line.sql" <<'EOF'
\set inv random(1, 8)
BEGIN;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (:inv, nextval('public.line_no'), 'Konsult', 1, 100, 25);
COMMIT;
EOF
for level in 'repeatable read' 'serializable'; do
	echo "part 2, $level: 8 sessions write audited rows for ${SECS}s"
	read -r seals0 lines0 < <(sql -F ' ' -c "SELECT (SELECT count(*) FROM ar.audit_seal), (SELECT count(*) FROM ar.invoice_line)")
	PGOPTIONS="-c default_transaction_isolation=${level// /\\ }" \
		pgbench -n -c 8 -j 2 -T "$SECS" --failures-detailed -f "$TMP/line.sql" "$DB" \
		>"$TMP/p2.out" 2>"$TMP/p2.err" && rc=0 || rc=$?
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$TMP/p2.out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$TMP/p2.out")
	if [ "$rc" -ne 0 ] || [ -z "$processed" ] || [ "${failed:-1}" -ne 0 ] || grep -qiE 'abort|error' "$TMP/p2.err"; then
		cat "$TMP/p2.out" "$TMP/p2.err" >&2
		fail "$level: pgbench exit status $rc, ${failed:-?} failed transactions"
	fi
	read -r seals lines unaudited < <(sql -F ' ' -c "SELECT (SELECT count(*) FROM ar.audit_seal),
		(SELECT count(*) FROM ar.invoice_line),
		(SELECT count(*) FROM ar.invoice_line l WHERE NOT EXISTS (SELECT 1 FROM ar.audit a
			WHERE a.table_name = 'invoice_line' AND a.op = 'INSERT' AND a.row_key = l.invoice_id || '/' || l.line_no))")
	[ $((lines - lines0)) -eq "$processed" ] || fail "$level: $((lines - lines0)) lines for $processed transactions"
	[ $((seals - seals0)) -eq "$processed" ] || fail "$level: $((seals - seals0)) seals for $processed transactions"
	[ "$unaudited" -eq 0 ] || fail "$level: $unaudited lines have no audit row"
	chain_ok "$level part 2"
	say "ok: $processed transactions, 0 failed; a seal and an audit row for each; ar.verify_audit silent"
done

single_issue_script "$TMP/issue.sql"
# issue_run LEVEL EXTRA_PGBENCH_ARGS...: 8 sessions issue for SECS at LEVEL;
# sets PROCESSED, FAILED and SERIALIZATION (pgbench's counts)
issue_run() {
	local level=$1; shift
	PGOPTIONS="-c default_transaction_isolation=${level// /\\ }" \
		pgbench -n -c 8 -j 2 -T "$SECS" --failures-detailed -D tag="'$level'" "$@" -f "$TMP/issue.sql" "$DB" \
		>"$TMP/issue.out" 2>"$TMP/issue.err" && rc=0 || rc=$?
	PROCESSED=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$TMP/issue.out")
	FAILED=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$TMP/issue.out")
	SERIALIZATION=$(sed -n 's/^number of serialization failures: \([0-9]*\).*/\1/p' "$TMP/issue.out")
	if [ "$rc" -ne 0 ] || [ -z "$PROCESSED" ] || [ -z "$FAILED" ] || grep -qiE 'abort' "$TMP/issue.err"; then
		cat "$TMP/issue.out" "$TMP/issue.err" >&2
		fail "$level: pgbench exit status $rc, or a client aborted"
	fi
}

echo "part 3, repeatable read: 8 sessions issue into one series for ${SECS}s, a tenth rolled back"
issue_run 'repeatable read'
if [ "$FAILED" -ne 0 ]; then
	cat "$TMP/issue.out" "$TMP/issue.err" >&2
	fail "repeatable read: $FAILED of $PROCESSED issuing transactions failed"
fi
say "ok: $PROCESSED transactions, 0 failed"
check_numbering "after part 3"

echo "part 4, serializable: the same, serialization failures retried (up to 100 tries)"
issue_run serializable --max-tries=100
grep -E '^(number of (failed|serialization|deadlock)|number of transactions retried|total number of retries)' \
	"$TMP/issue.out" | sed 's/^/      /'
deadlocks=$(sed -n 's/^number of deadlock failures: \([0-9]*\).*/\1/p' "$TMP/issue.out")
[ "$FAILED" -eq "$SERIALIZATION" ] && [ "${deadlocks:-1}" -eq 0 ] ||
	{ cat "$TMP/issue.err" >&2; fail "serializable: a transaction failed other than on serialization"; }
if grep -qv -e 'could not serialize access' -e 'ends the failed transaction' -e '^$' "$TMP/issue.err"; then
	cat "$TMP/issue.err" >&2
	fail "serializable: pgbench reported errors other than serialization failures"
fi
issued=$(sql -c "SELECT count(*) FROM ar.invoice WHERE status = 'issued'")
[ "$issued" -gt 0 ] || fail "serializable: nothing was issued"
say "ok: $PROCESSED transactions; every failure a serialization failure; $issued documents issued in all"
check_numbering "after part 4"

echo "isolation: all checks passed"
