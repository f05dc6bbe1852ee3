#!/usr/bin/env bash
# test/t/concurrency.sh: gapless numbering under concurrency.
#
# Phase 1: 8 pgbench sessions for AR_CONCURRENCY_SECONDS (default 20) each
# loop over one transaction: insert a draft and its line, ar.issue() it, and
# roll back about one time in ten (after the number was given), else commit.
# Phase 2: for AR_CONCURRENCY_BATCH_SECONDS (default 5) 4 sessions issue 5
# drafts at a time with ar.issue(bigint[]) while 4 others issue one at a time
# (again a tenth rolled back).
# After each phase: ar.verify_series is silent; the committed documents carry
# exactly the numbers 1..count, distinct, matching the pattern; the counter
# equals the highest number; no draft was left behind; rollbacks and commits
# both happened; pgbench saw no error (no failed or aborted transaction, so no
# deadlock and no serialization failure).
set -uo pipefail
source "$(dirname "$0")/common.bash"

SECS=${AR_CONCURRENCY_SECONDS:-20}
SECS2=${AR_CONCURRENCY_BATCH_SECONDS:-5}
DB=ar_concurrency

test_cluster concurrency "max_connections = 50"
setup_books

single_issue_script "$TMP/single.sql"
# Five drafts per transaction, issued in one call, the ids listed in
# descending order (ar.issue numbers them in id order).
cat >"$TMP/batch.sql" <<'EOF'
\set r random(1, 10)
\set c random(1, 8)
BEGIN;
WITH d AS (INSERT INTO ar.invoice (entity_id, customer_id, currency, note)
		   SELECT 1, :c, 'SEK', 'p2-batch' FROM generate_series(1, 5) RETURNING id)
SELECT string_agg(id::text, ',' ORDER BY id DESC) AS ids FROM d \gset
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT x, 1, 'Widget', 1 + x % 7, 10.50, 'S', 25 FROM unnest(ARRAY[:ids]::bigint[]) x;
SELECT count(*) FROM ar.issue(ARRAY[:ids]::bigint[]);
\if :r = 1
ROLLBACK;
\else
COMMIT;
\endif
EOF

# drafts_made: how many ids the invoice identity has handed out; a rolled
# back insert uses one up too, so this counts every draft ever inserted.
drafts_made() {
	sql -c "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('ar.invoice', 'id')::regclass), 0)"
}

# check_pgbench NAME: pgbench exited 0, no client aborted, no transaction
# failed; sets PROCESSED to its count of transactions.
check_pgbench() {
	local name=$1 rc=$2 out=$TMP/$1.out err=$TMP/$1.err failed aborted
	PROCESSED=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	aborted=$(grep -c 'aborted in command' "$err")
	if [ "$rc" -ne 0 ] || [ -z "$PROCESSED" ] || [ "${failed:-1}" -ne 0 ] || [ "$aborted" -ne 0 ] ||
	   grep -qiE 'abort|error' "$err"; then
		cat "$out" "$err" >&2
		fail "pgbench $name: exit status $rc, ${failed:-?} failed transactions, $aborted clients aborted on an error (see above)"
	fi
	say "ok: pgbench $name: $PROCESSED transactions, 0 failed, no client aborted"
	grep -E '^(number of (serialization|deadlock) failures|tps)' "$out" | sed 's/^/      /'
}

# pgbench_run NAME CLIENTS SECONDS SCRIPT [TAG]: in the background.
pgbench_run() {
	local name=$1 clients=$2 secs=$3 script=$4 tag=${5:-}
	pgbench -n -c "$clients" -j 2 -T "$secs" --failures-detailed \
		${tag:+-D tag="'$tag'"} -f "$script" "$DB" >"$TMP/$name.out" 2>"$TMP/$name.err" &
}

# account TAG TRANSACTIONS DRAFTS_PER_TRANSACTION
# Committed = issued documents tagged TAG; rolled back = transactions - committed.
account() {
	local tag=$1 txns=$2 per=$3 committed drafts
	read -r committed drafts < <(sql -F ' ' -c "
		SELECT count(*) FILTER (WHERE status = 'issued'), count(*) FILTER (WHERE status = 'draft')
		  FROM ar.invoice WHERE note = '$tag'")
	[ "$drafts" -eq 0 ] || fail "$tag: $drafts drafts were committed without a number"
	[ $((committed % per)) -eq 0 ] || fail "$tag: $committed issued documents, not a multiple of $per per transaction"
	local ctx=$((committed / per)) rolled=$((txns - committed / per))
	[ "$ctx" -gt 0 ] || fail "$tag: no transaction committed"
	[ "$rolled" -gt 0 ] || fail "$tag: no transaction was rolled back ($txns transactions, $ctx committed)"
	say "ok: $tag: $txns transactions: $ctx committed ($committed documents issued), $rolled rolled back after issuing"
}

# inserted N WANT: the identity handed out N ids in the phase; every
# transaction pgbench counted inserted its drafts (one cut off by the end of
# the run may have inserted some without being counted), so N >= WANT.  The
# ids of rolled-back drafts are lost, which is a second witness of rollbacks.
inserted() {
	[ "$1" -ge "$2" ] || fail "the invoice identity handed out $1 ids but the transactions inserted $2 drafts"
	say "ok: $1 drafts inserted in all, $(sql -c "SELECT $1 - count(*) FROM ar.invoice WHERE id > $m0") of them gone with a rollback"
}

echo "phase 1: 8 sessions issue one draft per transaction for ${SECS}s, ~10% rolled back after ar.issue"
m0=$(drafts_made)
pgbench_run p1 8 "$SECS" "$TMP/single.sql" p1
wait $!; check_pgbench p1 $?
account p1 "$PROCESSED" 1
inserted $(( $(drafts_made) - m0 )) "$PROCESSED"
check_numbering "after phase 1"

echo "phase 2: 4 sessions issue batches of 5 with ar.issue(bigint[]) and 4 issue single drafts, ${SECS2}s"
m0=$(drafts_made)
pgbench_run p2-batch 4 "$SECS2" "$TMP/batch.sql"
pid_batch=$!
pgbench_run p2-single 4 "$SECS2" "$TMP/single.sql" p2-single
pid_single=$!
wait $pid_batch; rc_batch=$?
wait $pid_single; rc_single=$?
check_pgbench p2-batch $rc_batch; n_batch=$PROCESSED
check_pgbench p2-single $rc_single; n_single=$PROCESSED
account p2-batch "$n_batch" 5
account p2-single "$n_single" 1
inserted $(( $(drafts_made) - m0 )) $(( 5 * n_batch + n_single ))
check_numbering "after phase 2"

echo "self-test: the checks notice a broken series"
checks_can_fail

echo "concurrency: all checks passed"
