--
-- Jobs: schedules, running by hand, the history, who may run what as whom
-- (the worker itself: test/t/worker.sh)
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;
SET TimeZone = 'UTC';

-- the default jobs, due at their next time
SELECT name, schedule, command, enabled, run_as, time_zone, installed,
	   next_run > now() - interval '5 minutes' AND next_run <= ar.job_next_run(schedule, now(), time_zone)
		   AS next_run_ok
  FROM ar.job ORDER BY name;

-- schedules: cron (in the job's zone) and intervals
SELECT s, z, a, ar.job_next_run(s, a::timestamptz, z) AS next
  FROM (VALUES ('0 6 * * *', 'UTC', '2026-11-23 05:59:30+00'),
			   ('0 6 * * *', 'UTC', '2026-11-23 06:00:00+00'),
			   ('0 6 * * *', 'Europe/Stockholm', '2026-11-23 04:59:00+00'),
			   ('0 6 * * *', 'Europe/Stockholm', '2026-11-23 05:00:00+00'),
			   ('0 6 * * *', 'Europe/Stockholm', '2026-07-01 03:00:00+00'),
			   ('*/15 * * * 1-5', 'UTC', '2026-11-21 10:00:00+00'),
			   ('*/15 * * * 1-5', 'UTC', '2026-11-23 10:14:59+00'),
			   ('0 12 1 * 0', 'UTC', '2026-11-23 00:00:00+00'),
			   ('0 12 1 * 7', 'UTC', '2026-11-30 00:00:00+00'),
			   ('0 0 29 2 *', 'UTC', '2026-03-01 00:00:00+00'),
			   ('30 8-10/2 * 1,7 *', 'UTC', '2026-11-23 00:00:00+00'),
			   ('@daily', 'UTC', '2026-11-23 10:00:00+00'),
			   ('@monthly', 'UTC', '2026-12-31 23:59:00+00'),
			   ('5 minutes', 'UTC', '2026-11-23 10:00:07+00'),
			   ('1 day', 'UTC', '2026-11-23 10:00:07+00'),
			   -- a day field starting with * leaves the day to the other: odd-day Mondays
			   ('0 0 */2 * 1', 'UTC', '2026-11-01 00:00:00+00'),
			   -- the clock goes back in Stockholm at 01:00 UTC on 25 October 2026:
			   -- the repeated hour is not skipped
			   ('*/5 * * * *', 'Europe/Stockholm', '2026-10-25 00:30:00+00'),
			   ('*/5 * * * *', 'Europe/Stockholm', '2026-10-25 00:58:00+00'),
			   ('0 * * * *', 'Europe/Stockholm', '2026-10-25 00:10:00+00'),
			   ('30 2 * * *', 'Europe/Stockholm', '2026-10-24 12:00:00+00'),
			   -- and forward at 01:00 UTC on 28 March 2027: 02:30 does not exist
			   ('30 2 * * *', 'Europe/Stockholm', '2027-03-27 12:00:00+00')) v(s, z, a);
-- bad schedules name themselves
SELECT ar.job_next_run('61 * * * *', now());
SELECT ar.job_next_run('* 24 * * *', now());
SELECT ar.job_next_run('0 0 * * * *', now());
SELECT ar.job_next_run('every day', now());
SELECT ar.job_next_run('-5 minutes', now());
SELECT ar.job_next_run('0 0 31 2 *', now());
SELECT ar.job_next_run('5-1 * * * *', now());
SELECT ar.job_next_run('0 6 * * *', now(), 'Mars/Olympus');

-- a job of one's own: it runs as its run_as role
CREATE TABLE public.job_log (n integer, who name, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON public.job_log TO ar_admin;
INSERT INTO ar.job (name, schedule, command) VALUES ('bad', 'sometimes', 'SELECT 1');

INSERT INTO ar.job (name, schedule, command) VALUES ('Bad Name', '5 minutes', 'SELECT 1');
INSERT INTO ar.job (name, schedule, command) VALUES ('empty', '5 minutes', '  ');

INSERT INTO ar.job (name, schedule, command, run_as) VALUES ('nobody', '5 minutes', 'SELECT 1', 'no_such_role');
BEGIN;
INSERT INTO ar.job (name, schedule, command, run_as, time_zone) VALUES
	('log', '0 6 * * *', 'INSERT INTO public.job_log (n, who) SELECT g, current_user FROM generate_series(1, 3) g',
	 'ar_admin', 'Europe/Stockholm');
SELECT name, installed, next_run = ar.job_next_run('0 6 * * *', now(), 'Europe/Stockholm') AS next_run_ok
  FROM ar.job WHERE name = 'log';
COMMIT;
SELECT job_name, run_by = session_user AS by_me, status, rows, error, finished_at >= started_at AS timed
  FROM ar.run_job('log');
SELECT n, who FROM public.job_log ORDER BY n;
SELECT last_status, last_error, last_run IS NOT NULL AS ran,
	   next_run > last_run AND next_run <= last_run + interval '1 day'
	   AND (next_run AT TIME ZONE 'Europe/Stockholm')::time = '06:00' AS next_run_ok
  FROM ar.job WHERE name = 'log';

-- a failing command is recorded and undone (all its statements), not raised
UPDATE ar.job SET command = 'INSERT INTO public.job_log (n) VALUES (99); SELECT 1 / 0' WHERE name = 'log';
SELECT job_name, status, rows, error FROM ar.run_job('log');
SELECT count(*) AS rows_99 FROM public.job_log WHERE n = 99;
SELECT last_status, last_error FROM ar.job WHERE name = 'log';
-- a job cannot take another role: not even back to the one that runs it
UPDATE ar.job SET command = 'RESET ROLE; INSERT INTO public.job_log (n, who) VALUES (7, current_user)' WHERE name = 'log';
SELECT status, error FROM ar.run_job('log');
UPDATE ar.job SET command = 'SET ROLE postgres' WHERE name = 'log';
SELECT status, error FROM ar.run_job('log');
-- nor run another job (the inner run fails, is recorded, and runs nothing)
UPDATE ar.job SET command = 'SELECT ar.run_job(''log'')' WHERE name = 'log';
SELECT status, error FROM ar.run_job('log');
SELECT job_name, status, count(*) FROM ar.job_run GROUP BY 1, 2 ORDER BY 1, 2;

-- the worker's call: only an enabled job whose time has come
SELECT ar._run_job('log', true) IS NULL AS not_due;
UPDATE ar.job SET next_run = now() - interval '1 minute', command = 'SELECT 1' WHERE name = 'log';
SELECT (ar._run_job('log', true)).status AS due_ran;
UPDATE ar.job SET next_run = now() - interval '1 minute', enabled = false WHERE name = 'log';
SELECT ar._run_job('log', true) IS NULL AS disabled;
-- enabling it again (or a new schedule) sets the next time from now
BEGIN;
UPDATE ar.job SET enabled = true WHERE name = 'log';
SELECT next_run = ar.job_next_run('0 6 * * *', now(), 'Europe/Stockholm') AS next_run_ok FROM ar.job WHERE name = 'log';
UPDATE ar.job SET schedule = '10 minutes' WHERE name = 'log';
SELECT next_run = now() + interval '10 minutes' AS next_run_ok FROM ar.job WHERE name = 'log';
COMMIT;
UPDATE ar.job SET schedule = 'whenever' WHERE name = 'log';
SELECT ar.run_job('nope');

-- the default jobs run (as ar_admin); a changed default is one's own (dumped)
SELECT job_name, status, error FROM ar.run_job('refresh_kpis');
SELECT job_name, status, error FROM ar.run_job('match_payments');
UPDATE ar.job SET enabled = false WHERE name = 'run_dunning';
SELECT name, enabled, installed FROM ar.job WHERE name IN ('run_dunning', 'match_payments') ORDER BY 1;
DELETE FROM ar.job WHERE name = 'run_dunning';
DELETE FROM ar.job WHERE name = 'log';

-- who may schedule what as whom: a role's members only
CREATE ROLE job_admin IN ROLE ar_admin;
CREATE ROLE job_clerk IN ROLE ar_clerk;
SET ROLE job_admin;
INSERT INTO ar.job (name, schedule, command, run_as) VALUES ('mine', '5 minutes', 'SELECT 1', 'job_admin');
INSERT INTO ar.job (name, schedule, command, run_as) VALUES ('as_postgres', '5 minutes', 'SELECT 1', 'postgres');
UPDATE ar.job SET run_as = 'postgres' WHERE name = 'mine';
-- an admin may run and reschedule the defaults (run as ar_admin), not rewrite
-- what a role it is not a member of runs
UPDATE ar.job SET schedule = '*/10 * * * *' WHERE name = 'match_payments';
SELECT status FROM ar.run_job('mine');
RESET ROLE;
UPDATE ar.job SET run_as = 'postgres' WHERE name = 'mine';
SET ROLE job_admin;
UPDATE ar.job SET command = 'SELECT 2' WHERE name = 'mine';
SELECT job_name, run_by, status, error FROM ar.run_job('mine');
RESET ROLE;
SET ROLE job_clerk;
INSERT INTO ar.job (name, schedule, command, run_as) VALUES ('clerks', '5 minutes', 'SELECT 1', 'job_clerk');
SELECT ar.run_job('refresh_kpis');
SELECT ar._execute_as('SELECT 1', 'postgres');
-- readers do not see the jobs (their commands and errors cover every entity)
SELECT count(*) FROM ar.job;
RESET ROLE;
-- a job of job_admin's that looks like a restore (COPY or INSERT with
-- check_function_bodies and row_security off) while a superuser runs it:
-- the guards do not step aside inside a job, so it cannot schedule a job
-- as postgres
INSERT INTO ar.job (name, schedule, command, run_as) VALUES ('evil', '1 hour', $c$
SET LOCAL check_function_bodies = off; SET LOCAL row_security = off;
DO $d$ DECLARE r record; BEGIN
  FOR r IN INSERT INTO ar.job (name, schedule, command, run_as, time_zone)
		   VALUES ('pwn', '1 minute', 'ALTER ROLE job_admin SUPERUSER', 'postgres', 'UTC') RETURNING name
  LOOP END LOOP; END $d$;$c$, 'job_admin');
SELECT status, error FROM ar.run_job('evil');
SELECT count(*) AS pwn_jobs FROM ar.job WHERE name = 'pwn';
-- a job whose role was dropped runs as nobody else
CREATE ROLE job_tmp;
INSERT INTO ar.job (name, schedule, command, run_as) VALUES ('orphan', '1 hour', 'SELECT 1', 'job_tmp');
DROP ROLE job_tmp;
CREATE ROLE job_tmp;
SET client_min_messages = error;
SELECT status, error ~ '^42704: the role of the job \(oid [0-9]+\) does not exist$' AS role_gone FROM ar.run_job('orphan');
RESET client_min_messages;
DROP ROLE job_tmp;
DELETE FROM ar.job WHERE name IN ('orphan', 'evil');
SELECT name, run_as, schedule FROM ar.job ORDER BY name;
DROP OWNED BY job_admin, job_clerk;
DROP ROLE job_admin, job_clerk;
