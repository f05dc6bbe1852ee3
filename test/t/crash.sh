#!/usr/bin/env bash
# test/t/crash.sh: numbering survives a crash in the middle of a batch issue.
#
# Part 1: three drafts are issued and committed, then AR_CRASH_DRAFTS
# (default 20000) drafts are issued in one ar.issue(bigint[]) call; once that
# call is assigning numbers the server is killed (pg_ctl stop -m immediate)
# and started again (crash recovery).  The batch must have left nothing
# behind (no number, no tax row, no outbox row), ar.verify_series must be
# silent, the numbers must be exactly 1..3 and the counter at 3.  Issuing the
# drafts again must then give them 4..AR_CRASH_DRAFTS+3.
# Part 2: a batch of 1000 is committed and the server killed right after the
# commit returned: after recovery the 1000 numbers are all there, gapless, and
# the next issue continues right after them.
set -uo pipefail
source "$(dirname "$0")/common.bash"

N=${AR_CRASH_DRAFTS:-20000}
DELAY=${AR_CRASH_DELAY:-0.2}	# seconds between "numbering started" and the kill
DB=ar_crash

test_cluster crash
setup_books

# make_drafts COUNT TAG: COUNT drafts with one or two lines each.
make_drafts() {
	sql <<SQL >/dev/null || fail "cannot make $1 drafts"
INSERT INTO ar.invoice (entity_id, customer_id, currency, note)
SELECT 1, 1 + g % 8, 'SEK', '$2' FROM generate_series(1, $1) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT i.id, l, 'Widget ' || l, 1 + i.id % 5, 10.50 * l, 'S', 25
  FROM ar.invoice i CROSS JOIN generate_series(1, 1 + (i.id % 2)::int) l
 WHERE i.note = '$2';
SQL
}

# crash_and_recover: kill the server, see that it did not shut down cleanly,
# start it again (crash recovery).
crash_and_recover() {
	cluster_pg_ctl stop -m immediate || fail "pg_ctl stop -m immediate failed"
	local state
	state=$(LC_ALL=C pg_controldata "$PGDATA" | sed -n 's/^Database cluster state: *//p')
	[ "$state" = "in production" ] || fail "after the kill the cluster state is '$state', not 'in production'"
	say "killed: pg_ctl stop -m immediate; control file says '$state', so the start runs crash recovery"
	cluster_pg_ctl start || fail "the server did not come back after the crash"
	say "restarted: crash recovery done"
}

# status_counts TAG: "issued drafts" of the documents tagged TAG.
status_counts() {
	sql -F ' ' -c "SELECT count(*) FILTER (WHERE status <> 'draft'), count(*) FILTER (WHERE status = 'draft')
					 FROM ar.invoice WHERE note = '$1'"
}

echo "part 1: kill the server while ar.issue numbers a batch of $N drafts"
make_drafts 3 before
sql -c "SELECT ar.issue(id) FROM ar.invoice WHERE note = 'before' ORDER BY id" >/dev/null \
	|| fail "cannot issue the first three drafts"
say "committed before the batch: $(sql -c "SELECT string_agg(number, ', ' ORDER BY seq_no) FROM ar.invoice WHERE note = 'before'")"
make_drafts "$N" bulk
say "made $N drafts with $(sql -c "SELECT count(*) FROM ar.invoice_line l JOIN ar.invoice i ON i.id = l.invoice_id WHERE i.note = 'bulk'") lines"
pages_sql="SELECT pg_relation_size('ar.invoice') / 8192 || ' ' || pg_relation_size('ar.invoice_tax') / 8192"
read -r inv_pages0 tax_pages0 < <(sql -c "$pages_sql")

PGAPPNAME=ar_crash_batch psql -X -At -d "$DB" \
	-c "SELECT count(*) FROM ar.issue(ARRAY(SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id))" \
	>"$TMP/batch.out" 2>&1 &
batch_pid=$!
# The last statement of ar.issue, the one that takes the numbers from the
# counter and writes them into the documents, also inserts into ar.outbox:
# it is under way once the batch's backend holds a lock on ar.outbox.
t0=$EPOCHREALTIME
sql <<'SQL' || { cat "$TMP/batch.out"; fail "the batch never reached the numbering"; }
DO $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN EXISTS (
			SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
			 WHERE a.application_name = 'ar_crash_batch' AND a.state = 'active'
			   AND a.query LIKE '%ar.issue(ARRAY(SELECT%'
			   AND l.relation = 'ar.outbox'::regclass);
		IF NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = 'ar_crash_batch') AND
		   clock_timestamp() > t0 + interval '5 s' THEN
			RAISE EXCEPTION 'the batch session is gone';
		END IF;
		IF clock_timestamp() > t0 + interval '60 s' THEN
			RAISE EXCEPTION 'the batch did not start numbering within 60 s';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
SQL
sleep "$DELAY"
say "the batch is numbering; killing the server $(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $t0 }")s after the batch started"
crash_and_recover
wait $batch_pid; batch_rc=$?
if grep -qxE '[0-9]+' "$TMP/batch.out" || [ $batch_rc -eq 0 ]; then
	cat "$TMP/batch.out"
	fail "the batch finished before the crash (raise AR_CRASH_DRAFTS or lower AR_CRASH_DELAY)"
fi
say "the batch's client lost its connection: $(grep -m1 -iE 'closed|terminat|connection' "$TMP/batch.out")"

read -r issued drafts < <(status_counts bulk)
[ "$issued" -eq 0 ] || fail "the crashed batch left $issued issued documents behind"
[ "$drafts" -eq "$N" ] || fail "$drafts of the $N drafts are still drafts"
say "ok: the batch left no issued document: all $N are drafts again"
left=$(sql -c "SELECT (SELECT count(*) FROM ar.invoice_tax t JOIN ar.invoice i ON i.id = t.invoice_id WHERE i.status = 'draft')
				   || ' tax rows, ' ||
				   (SELECT count(*) FROM ar.outbox o JOIN ar.invoice i ON i.id = o.invoice_id WHERE i.status = 'draft')
				   || ' outbox rows'")
[ "$left" = "0 tax rows, 0 outbox rows" ] || fail "the crashed batch left $left for drafts"
say "ok: no tax row and no outbox row of the batch survived"
read -r inv_pages tax_pages < <(sql -c "$pages_sql")
say "(what the batch had written is on disk but invisible: ar.invoice grew from $inv_pages0 to $inv_pages pages, ar.invoice_tax from $tax_pages0 to $tax_pages)"
check_numbering "after the crash"
read -r cnt top counter < <(sql -F ' ' -c "
	SELECT count(*), max(i.seq_no), (SELECT max(last_value) FROM ar.series_counter)
	  FROM ar.invoice i WHERE i.seq_no IS NOT NULL")
[ "$cnt" = 3 ] && [ "$top" = 3 ] && [ "$counter" = 3 ] \
	|| fail "after the crash: $cnt numbered documents, highest $top, counter $counter (want 3, 3, 3)"
say "ok: 3 numbered documents, numbers 1..3, counter at 3"

echo "part 1, after the crash: issue the $N drafts again"
cnt=$(sql -c "SELECT count(*) FROM ar.issue(ARRAY(SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id))") \
	|| fail "issuing the drafts again failed"
read -r lo hi < <(sql -F ' ' -c "SELECT min(seq_no), max(seq_no) FROM ar.invoice WHERE note = 'bulk'")
[ "$cnt" = "$N" ] && [ "$lo" = 4 ] && [ "$hi" = $((N + 3)) ] \
	|| fail "reissuing gave $cnt documents numbered $lo..$hi (want $N numbered 4..$((N + 3)))"
say "ok: $N documents issued, numbered 4..$((N + 3)), right after the committed ones"
check_numbering "after issuing the drafts again"

echo "part 2: kill the server right after a batch of 1000 committed"
make_drafts 1000 committed
last=$(sql -c "SELECT count(*) || ' ' || min(number) || '..' || max(number)
				 FROM ar.issue(ARRAY(SELECT id FROM ar.invoice WHERE note = 'committed' ORDER BY id))") \
	|| fail "the batch of 1000 failed"
crash_and_recover
say "the batch had returned: $last"
read -r issued drafts < <(status_counts committed)
[ "$issued" = 1000 ] && [ "$drafts" = 0 ] || fail "after the crash $issued of the committed 1000 are issued, $drafts drafts"
read -r lo hi < <(sql -F ' ' -c "SELECT min(seq_no), max(seq_no) FROM ar.invoice WHERE note = 'committed'")
[ "$lo" = $((N + 4)) ] && [ "$hi" = $((N + 1003)) ] || fail "the committed batch is numbered $lo..$hi, want $((N + 4))..$((N + 1003))"
say "ok: all 1000 committed numbers survived: $((N + 4))..$((N + 1003))"
check_numbering "after the crash that followed a commit"
make_drafts 1 after
number=$(sql -c "SELECT ar.issue((SELECT id FROM ar.invoice WHERE note = 'after'))") || fail "the next issue failed"
next=$(sql -c "SELECT seq_no FROM ar.invoice WHERE note = 'after'")
[ "$next" = $((N + 1004)) ] || fail "the next issue got number $number (seq_no $next), want seq_no $((N + 1004))"
say "ok: the next issue continues with $number (seq_no $next)"
check_numbering "at the end"

echo "self-test: the checks notice a broken series"
checks_can_fail

echo "crash: all checks passed"
