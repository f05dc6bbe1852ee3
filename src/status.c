/*-------------------------------------------------------------------------
 *
 * status.c
 *	  The invoice status type and its transition rule.
 *
 * ar.invoice_status is an enum declared in ar--1.0.sql.  The rule which
 * status may follow which lives here, once, and is used by the SQL function
 * ar.status_transition_allowed(), by ar.check_status_transition() and by
 * the trigger function ar.status_guard(), which any table can attach:
 *
 *	  CREATE TRIGGER t BEFORE UPDATE OF status ON tbl
 *		FOR EACH ROW EXECUTE FUNCTION ar.status_guard('status');
 *
 * src/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "ar.h"

typedef enum ArStatus
{
	ST_DRAFT,
	ST_ISSUED,
	ST_PARTIALLY_PAID,
	ST_PAID,
	ST_CREDITED,
	ST_WRITTEN_OFF,
	ST_CANCELLED,
	ST_COUNT
} ArStatus;

static const char *const status_names[ST_COUNT] = {
	"draft", "issued", "partially_paid", "paid", "credited", "written_off",
	"cancelled"
};

/* allowed[from][to], as in CONTRACT.md §1 */
static const bool allowed[ST_COUNT][ST_COUNT] = {
	/* draft */
	[ST_DRAFT] = {[ST_ISSUED] = true,[ST_CANCELLED] = true},
	[ST_ISSUED] = {[ST_PARTIALLY_PAID] = true,[ST_PAID] = true,
	[ST_CREDITED] = true,[ST_WRITTEN_OFF] = true},
	[ST_PARTIALLY_PAID] = {[ST_PAID] = true,[ST_ISSUED] = true,
	[ST_CREDITED] = true,[ST_WRITTEN_OFF] = true},
	/* a reversed payment takes a paid invoice back */
	[ST_PAID] = {[ST_PARTIALLY_PAID] = true,[ST_ISSUED] = true},
};

static ArStatus
status_of_label(const char *label)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (strcmp(label, status_names[i]) == 0)
			return (ArStatus) i;
	elog(ERROR, "unknown invoice status \"%s\"", label);
	return ST_COUNT;			/* keep compiler quiet */
}

static ArStatus
status_of_datum(Datum enumval)
{
	return status_of_label(DatumGetCString(DirectFunctionCall1(enum_out, enumval)));
}

static void
check_transition(ArStatus from, ArStatus to, const char *what)
{
	if (!allowed[from][to])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("illegal status transition of %s from \"%s\" to \"%s\"",
						what, status_names[from], status_names[to]),
				 from == ST_DRAFT ?
				 errhint("A draft can only be issued or cancelled.") :
				 (from == ST_CANCELLED || from == ST_CREDITED || from == ST_WRITTEN_OFF) ?
				 errhint("\"%s\" is a final status.", status_names[from]) :
				 errhint("See ar.status_transition_allowed() for the allowed transitions.")));
}

/*
 * ar.status_transition_allowed(from, to) → boolean
 */
PG_FUNCTION_INFO_V1(ar_status_transition_allowed);
Datum
ar_status_transition_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(allowed[status_of_datum(PG_GETARG_DATUM(0))]
				   [status_of_datum(PG_GETARG_DATUM(1))]);
}

/*
 * ar.check_status_transition(from, to): raises an error naming both states
 * unless the transition is allowed.
 */
PG_FUNCTION_INFO_V1(ar_check_status_transition);
Datum
ar_check_status_transition(PG_FUNCTION_ARGS)
{
	check_transition(status_of_datum(PG_GETARG_DATUM(0)),
					 status_of_datum(PG_GETARG_DATUM(1)), "invoice");
	PG_RETURN_VOID();
}

/*
 * ar.status_guard([column]): BEFORE UPDATE row trigger refusing illegal
 * transitions of the named ar.invoice_status column (default "status").
 */
PG_FUNCTION_INFO_V1(ar_status_guard);
Datum
ar_status_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *column = "status";
	TupleDesc	tupdesc;
	int			attnum;
	bool		oldnull;
	bool		newnull;
	Datum		oldval;
	Datum		newval;
	char	   *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ar.status_guard() must be called as a trigger")));
	if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ar.status_guard() must be a BEFORE UPDATE FOR EACH ROW trigger")));
	if (trigdata->tg_trigger->tgnargs > 0)
		column = trigdata->tg_trigger->tgargs[0];

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	attnum = SPI_fnumber(tupdesc, column);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of ar.status_guard() not found in table \"%s\"",
						column, RelationGetRelationName(trigdata->tg_relation))));

	/* the column's type, checked once per trigger and statement (fn_extra) */
	if (fcinfo->flinfo->fn_extra == NULL ||
		*(Oid *) fcinfo->flinfo->fn_extra != RelationGetRelid(trigdata->tg_relation))
	{
		Oid			typid = TupleDescAttr(tupdesc, attnum - 1)->atttypid;
		Oid			nsp = get_namespace_oid("ar", true);
		Oid			want = InvalidOid;

		if (OidIsValid(nsp))
			want = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								   CStringGetDatum("invoice_status"), ObjectIdGetDatum(nsp));
		if (typid != want)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table \"%s\" is of type %s, but ar.status_guard() needs ar.invoice_status",
							column, RelationGetRelationName(trigdata->tg_relation),
							format_type_be(typid))));
		if (fcinfo->flinfo->fn_extra == NULL)
			fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		*(Oid *) fcinfo->flinfo->fn_extra = RelationGetRelid(trigdata->tg_relation);
	}

	oldval = SPI_getbinval(trigdata->tg_trigtuple, tupdesc, attnum, &oldnull);
	newval = SPI_getbinval(trigdata->tg_newtuple, tupdesc, attnum, &newnull);
	if (oldnull || newnull)
	{
		if (oldnull != newnull)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("status of a row of \"%s\" cannot change to or from NULL",
							RelationGetRelationName(trigdata->tg_relation))));
		return PointerGetDatum(trigdata->tg_newtuple);
	}
	if (DatumGetObjectId(oldval) != DatumGetObjectId(newval))
	{
		what = psprintf("a row of \"%s\"", RelationGetRelationName(trigdata->tg_relation));
		check_transition(status_of_datum(oldval), status_of_datum(newval), what);
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}
