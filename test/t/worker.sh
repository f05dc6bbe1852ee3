#!/usr/bin/env bash
# test/t/worker.sh: the background worker runs the jobs of ar.job.
#
# A cluster with ar preloaded, ar.database = 'ar_worker' and a naptime of
# 1 s.  The database is made after the server started: the worker, which
# cannot connect yet, is restarted by the postmaster until it can.
#   1. the worker shows in pg_stat_activity (backend_type 'ar worker');
#   2. a job every second writes rows as its run_as role; a failing job is
#      recorded each time and the worker goes on (same pid);
#   3. a disabled job stops;
#   4. a job cancelled mid-run (pg_cancel_backend) is recorded as failed
#      and the worker goes on;
#   4b. a cancel while no job runs does not end the worker; an advisory
#      lock and a temporary table of one job are gone before the next;
#   5. the default match_payments job, when due, matches a payment, and the
#      audit trail names its run_as role;
#   6. SIGTERM ends the worker; the postmaster starts it again.
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_worker

test_cluster worker "ar.database = 'ar_worker'" "ar.worker_naptime = 1" "log_min_messages = log"
setup_books

# wait_for SECONDS SQL: until SQL returns t
wait_for() {
	local secs=$1 q=$2
	for _ in $(seq 1 $((secs * 5))); do
		[ "$(sql -c "$q")" = t ] && return 0
		sleep 0.2
	done
	return 1
}
worker_pid() { sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ar worker' AND datname = 'ar_worker'"; }

echo "1. the worker connects and shows in pg_stat_activity"
wait_for 40 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ar worker' AND datname = 'ar_worker'" \
	|| { grep "ar worker" "$PGHOST/server.log" | tail -5; fail "no ar worker in pg_stat_activity after 40 s"; }
pid=$(worker_pid)
say "ar worker pid $pid, application_name $(sql -c "SELECT application_name FROM pg_stat_activity WHERE pid = $pid")"

echo "2. jobs every second: one writes rows, one fails"
sql >/dev/null <<'SQL' || fail "setup of the jobs failed"
CREATE TABLE public.tick (at timestamptz DEFAULT clock_timestamp(), who name);
GRANT INSERT ON public.tick TO ar_admin;
INSERT INTO ar.job (name, schedule, command, run_as) VALUES
	('tick', '1 second', 'INSERT INTO public.tick (who) SELECT current_user', 'ar_admin'),
	('boom', '1 second', 'SELECT 1 / 0', 'postgres');
SQL
wait_for 30 "SELECT count(*) >= 3 FROM public.tick" || fail "the tick job did not run 3 times in 30 s"
wait_for 30 "SELECT count(*) >= 3 FROM ar.job_run WHERE job_name = 'boom' AND status = 'failed'" \
	|| fail "the failing job was not recorded 3 times in 30 s"
[ "$(sql -c "SELECT DISTINCT who FROM public.tick")" = ar_admin ] || fail "the tick job did not run as ar_admin"
[ "$(sql -c "SELECT DISTINCT run_by || ' ' || error FROM ar.job_run WHERE job_name = 'boom'")" = "ar worker 22012: division by zero" ] \
	|| fail "the failing job's runs are not recorded as the worker's with their error"
[ "$(worker_pid)" = "$pid" ] || fail "the worker was restarted by a failing job (pid $pid, now $(worker_pid))"
say "tick ran $(sql -c "SELECT count(*) FROM public.tick") times as ar_admin; boom failed $(sql -c "SELECT count(*) FROM ar.job_run WHERE job_name = 'boom'") times; same worker"

echo "3. a disabled job stops"
sql -c "UPDATE ar.job SET enabled = false WHERE name IN ('tick', 'boom')" >/dev/null
sleep 2
n1=$(sql -c "SELECT count(*) FROM public.tick")
sleep 3
n2=$(sql -c "SELECT count(*) FROM public.tick")
[ "$n1" = "$n2" ] || fail "a disabled job went on running ($n1, then $n2 rows)"
say "no run in 3 s after disabling ($n2 rows)"

echo "4. a job cancelled while it runs"
sql -c "INSERT INTO ar.job (name, schedule, command, next_run) VALUES ('sleepy', '1 hour', 'SELECT pg_sleep(60)', now())" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND query = 'ar job sleepy'" \
	|| fail "the worker did not start the sleepy job"
sql -c "SELECT pg_cancel_backend($pid)" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM ar.job_run WHERE job_name = 'sleepy' AND status = 'failed'" \
	|| fail "the cancelled job was not recorded as failed"
[ "$(sql -c "SELECT last_status || ' ' || (next_run > now() + interval '50 minutes') FROM ar.job WHERE name = 'sleepy'")" = "failed true" ] \
	|| fail "the cancelled job is not waiting for its next time"
[ "$(sql -c "SELECT error FROM ar.job_run WHERE job_name = 'sleepy'")" = "canceling statement due to user request" ] \
	|| fail "the cancelled run does not carry the cancel's message"
[ "$(worker_pid)" = "$pid" ] || fail "the worker did not survive the cancel"
say "recorded: $(sql -c "SELECT error FROM ar.job_run WHERE job_name = 'sleepy'")"

echo "4b. a cancel while no job runs cancels nothing; one job's session state does not reach the next"
sleep 1.5
sql -c "SELECT pg_cancel_backend($pid)" >/dev/null
sleep 2.5
[ "$(worker_pid)" = "$pid" ] || fail "a cancel while idle ended the worker"
sql -c "INSERT INTO ar.job (name, schedule, command, next_run) VALUES ('stateful', '1 hour',
	'SELECT pg_advisory_lock(4242); CREATE TEMP TABLE stash AS SELECT 1 AS x; PREPARE p AS SELECT 1', now())" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM ar.job_run WHERE job_name = 'stateful' AND status = 'succeeded'" \
	|| fail "the stateful job did not run"
sleep 1
[ "$(sql -c "SELECT count(*) FROM pg_locks WHERE pid = $pid AND locktype = 'advisory'")" = 0 ] \
	|| fail "the worker still holds the advisory lock a job took"
sql -c "INSERT INTO ar.job (name, schedule, command, next_run) VALUES ('peek', '1 hour',
	'SELECT * FROM pg_temp.stash', now())" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM ar.job_run WHERE job_name = 'peek'" || fail "the peek job did not run"
[ "$(sql -c "SELECT status FROM ar.job_run WHERE job_name = 'peek'")" = failed ] \
	|| fail "a later job saw an earlier job's temporary table"
[ "$(worker_pid)" = "$pid" ] || fail "the worker did not survive"
say "same worker; the advisory lock and the temporary table went with their job"

echo "5. the default match_payments job matches a payment when due"
sql >/dev/null <<'SQL' || fail "setup of the invoice and payment failed"
INSERT INTO ar.invoice (entity_id, customer_id, currency) VALUES (1, 1, 'SEK');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT max(id), 1, 'Konsult', 1, 1000, 25 FROM ar.invoice;
SELECT ar.issue((SELECT max(id) FROM ar.invoice));
INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reference)
SELECT 1, 'W1', current_date, total, payment_reference FROM ar.invoice ORDER BY id DESC LIMIT 1;
UPDATE ar.job SET next_run = now() WHERE name = 'match_payments';
SQL
wait_for 30 "SELECT status = 'paid' FROM ar.invoice ORDER BY id DESC LIMIT 1" \
	|| fail "the match_payments job did not pay the invoice"
[ "$(sql -c "SELECT status || ' ' || run_by FROM ar.job_run WHERE job_name = 'match_payments'")" = "succeeded ar worker" ] \
	|| fail "the match_payments run is not recorded"
[ "$(sql -c "SELECT string_agg(DISTINCT actor, ',') FROM ar.audit WHERE table_name = 'allocation'")" = ar_admin ] \
	|| fail "the audit trail does not name the job's role (ar_admin) as the actor of its allocation"
say "invoice paid by the worker's match_payments run; the audit trail names ar_admin"


echo "6. SIGTERM ends the worker; the postmaster starts it again"
sql -c "SELECT pg_terminate_backend($pid)" >/dev/null
wait_for 40 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'ar worker' AND datname = 'ar_worker' AND pid <> $pid" \
	|| fail "no new worker within 40 s of SIGTERM"
say "new worker pid $(worker_pid)"
echo "ok"
