/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Tells ar's triggers that rows are being restored by pg_restore or psql.
 *
 * CREATE EXTENSION creates ar's tables together with their triggers, and
 * only then does a restore load the dumped rows with COPY.  The triggers
 * that guard issued documents (draft-only inserts, immutability, payment
 * bookkeeping, the audit capture) would refuse or rewrite those rows.  They
 * step aside when ar.restoring() is true, which needs all of:
 *
 *	- the top-level command is COPY (how pg_dump writes table data), or an
 *	  INSERT while check_function_bodies is off (pg_dump --inserts: every
 *	  pg_dump script and pg_restore turn check_function_bodies off);
 *	- row_security is off, which every pg_dump script and pg_restore set;
 *	- the current user is a superuser, who could disable the triggers anyway;
 *	- no job's command is running (src/worker.c): it runs as its run_as
 *	  role in a session that may be a superuser's.
 *
 * src/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/guc.h"
#include "utils/portal.h"
#include "utils/rls.h"

#include "ar.h"

PG_FUNCTION_INFO_V1(ar_restoring);

/*
 * Is a restore loading rows, run by the superuser role?  C callers that
 * run as SECURITY DEFINER pass GetOuterUserId(), the role of the session
 * rather than the function's owner.
 */
bool
ArRestoring(Oid role)
{
	CommandTag	tag = ActivePortal != NULL ? ActivePortal->commandTag : CMDTAG_UNKNOWN;
	bool		loading = false;

	if (tag == CMDTAG_COPY)
	{
		/* COPY ... FROM only: COPY (SELECT f()) TO runs f's writes */
		PlannedStmt *ps = list_length(ActivePortal->stmts) == 1 ?
			linitial_node(PlannedStmt, ActivePortal->stmts) : NULL;

		loading = ps != NULL && ps->utilityStmt != NULL && IsA(ps->utilityStmt, CopyStmt) &&
			((CopyStmt *) ps->utilityStmt)->is_from;
	}
	else if (tag == CMDTAG_INSERT)
		loading = !check_function_bodies;
	/* a job's command may run in a superuser's session (the worker's) */
	return loading && !row_security && superuser_arg(role) && !OidIsValid(ArJobRole());
}

/*
 * ar.restoring(): the same, for the session's role (GetOuterUserId, not
 * the owner of a SECURITY DEFINER function it is called from), so that
 * the triggers and the C capture agree.
 */
Datum
ar_restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ArRestoring(GetOuterUserId()));
}
