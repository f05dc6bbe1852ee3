/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The ar background worker: runs the jobs of ar.job when they are due.
 *
 * With shared_preload_libraries = 'ar' the postmaster starts one worker,
 * which connects to the database named by ar.database and, every
 * ar.worker_naptime seconds, runs each enabled job whose next_run has come,
 * one transaction per job, through ar._run_job (the same PL/pgSQL that
 * ar.run_job runs by hand).  A job's command runs as the job's run_as role
 * (ar._execute_as, below), which it cannot leave with SET ROLE.
 *
 * The loop follows worker_spi and pg_cron: SIGHUP rereads the settings,
 * SIGTERM ends the worker at the next interrupt check, the latch wait ends
 * the worker when the postmaster dies, an error in a job is caught, logged
 * and recorded, and the loop's memory is reset on every round.
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "ar.h"

PGDLLEXPORT void ar_worker_main(Datum main_arg);

PG_FUNCTION_INFO_V1(ar_execute_as);

/* ar.database: where the worker runs the jobs */
static char *ar_database = NULL;

/* ar.worker_naptime: seconds between two looks at ar.job */
static int	ar_worker_naptime = 10;

/* the run_as role of the job command running in this backend, if any */
static Oid	job_role = InvalidOid;

/*
 * The role a job's command runs as while it runs (InvalidOid otherwise).
 * The session's user may be a superuser (the worker's is): what asks about
 * the session (ar.restoring(), the audit trail's actor) must ask this first.
 */
Oid
ArJobRole(void)
{
	return job_role;
}

void
ArWorkerInit(void)
{
	BackgroundWorker worker;

	DefineCustomStringVariable("ar.database",
							   "Database in which the ar background worker runs the jobs of ar.job.",
							   "Read at server start; the worker idles while ar is not installed there.",
							   &ar_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("ar.worker_naptime",
							"Seconds the ar background worker waits between two looks at ar.job.",
							NULL,
							&ar_worker_naptime,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ar");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ar_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "ar worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "ar worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * Run one statement through SPI in a transaction of its own.  On error the
 * transaction is rolled back, the error logged (naming what), and false
 * returned: the worker goes on.  names, when given, collects the first
 * column of the result, and error the message of a failure, both copied
 * into cxt.
 */
static bool
run_in_transaction(const char *what, const char *sql, int nargs, Oid *types, Datum *values,
				   List **names, char **error, MemoryContext cxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	PG_TRY();
	{
		if (!OidIsValid(get_extension_oid("ar", true)))
			ok = false;
		else
		{
			int			rc;

			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
			if (rc < 0)
				elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
			if (names != NULL)
			{
				for (uint64 i = 0; i < SPI_processed; i++)
				{
					char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
					MemoryContext spicxt = MemoryContextSwitchTo(cxt);

					*names = lappend(*names, pstrdup(v));
					MemoryContextSwitchTo(spicxt);
				}
			}
			SPI_finish();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_stat(false);
		ereport(LOG,
				(errmsg("ar worker: %s failed: %s", what, edata->message)));
		if (error != NULL)
			*error = MemoryContextStrdup(cxt, edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* one round: the names of the due jobs, then each job in its own transaction */
static void
run_due_jobs(MemoryContext cxt)
{
	List	   *names = NIL;
	ListCell   *lc;

	if (!run_in_transaction("ar worker: looking for due jobs",
							"SELECT name FROM ar.job WHERE enabled AND next_run <= now() ORDER BY next_run, name",
							0, NULL, NULL, &names, NULL, cxt))
		return;

	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2];
		char	   *what = psprintf("ar job %s", name);
		char	   *error = NULL;

		CHECK_FOR_INTERRUPTS();
		values[0] = CStringGetTextDatum(name);
		if (!run_in_transaction(what, "SELECT ar._run_job($1, true)", 1, types, values, NULL, &error, cxt))
		{
			/*
			 * What ar._run_job cannot catch (a cancelled statement, an
			 * error outside the job's command): record it, so that the
			 * job waits for its next run instead of failing every round.
			 */
			values[1] = CStringGetTextDatum(error != NULL ? error : "the job failed outside its command");
			(void) run_in_transaction(psprintf("ar job %s: recording its failure", name),
									  "SELECT ar._job_failed($1, $2)", 2, types, values, NULL, NULL, cxt);
		}

		/*
		 * Jobs share this session: leave nothing of one to the next (its
		 * settings and role end with the job already).
		 */
		(void) run_in_transaction(psprintf("ar job %s: clearing its session state", name),
								  "SELECT pg_advisory_unlock_all(); DEALLOCATE ALL; DISCARD TEMP; "
								  "DISCARD SEQUENCES; UNLISTEN *",
								  0, NULL, NULL, NULL, NULL, cxt);
	}
}

void
ar_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	(void) main_arg;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(ar_database, NULL, 0);
	pgstat_report_appname("ar worker");
	ereport(LOG,
			(errmsg("ar worker started: runs the jobs of ar.job in database \"%s\" every %d s",
					ar_database, ar_worker_naptime)));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "ar worker round", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext oldcxt;

		/* a cancel that came while no job ran cancels nothing */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		oldcxt = MemoryContextSwitchTo(loop_cxt);
		run_due_jobs(loop_cxt);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(loop_cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ar_worker_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * ar._execute_as(command text, run_as regrole) returns bigint
 *
 * Runs command (one or more SQL statements) as role run_as and returns the
 * rows its last statement processed.  The command cannot SET ROLE back:
 * the role is changed the way a SECURITY DEFINER function changes it.  The
 * caller must be a member of run_as (who could SET ROLE to it anyway).
 */
Datum
ar_execute_as(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			run_as = PG_GETARG_OID(1);
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	int			rc;
	uint64		rows = 0;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(run_as)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role of the job (oid %u) does not exist", run_as),
				 errhint("Set the job's run_as to an existing role.")));
	if (!is_member_of_role(GetUserId(), run_as))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run a job as role \"%s\"",
						GetUserNameFromId(run_as, false)),
				 errhint("A job runs as its run_as role: only members of that role may run it.")));

	if (OidIsValid(job_role))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a job cannot run another job")));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(run_as, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	/* the command sees PostgreSQL's default search_path, for its role */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "\"$user\", public", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	job_role = run_as;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute(command, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
		rows = SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		job_role = InvalidOid;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, save_nestlevel);
	/* (on error, the (sub)transaction's abort restores the user and settings) */
	SetUserIdAndSecContext(save_userid, save_sec);

	PG_RETURN_INT64((int64) rows);
}
