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
 *	- the current user is a superuser, who could disable the triggers anyway.
 *
 * src/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
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
	bool		loading = tag == CMDTAG_COPY ||
		(tag == CMDTAG_INSERT && !check_function_bodies);

	return loading && !row_security && superuser_arg(role);
}

Datum
ar_restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ArRestoring(GetUserId()));
}
