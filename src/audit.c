/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  ar's audit trail: the capture trigger and the row hash.
 *
 * ar.audit_capture is an AFTER ... FOR EACH STATEMENT trigger over the
 * statement's transition tables.  It writes one ar.audit row per changed
 * row: for an INSERT the new row and for a DELETE the old row, each as
 * to_jsonb gives it; for an UPDATE the columns whose value changed, with
 * their new values (the earlier rows of the trail hold the old ones).  The
 * rows go in with one INSERT over unnest() per chunk of CAPTURE_CHUNK rows,
 * so that a statement that changes a million rows costs a few hundred
 * statements, not a million.
 *
 * ar.audit_row_hash is the row hash, also used by ar.verify_audit.  It is
 * sha256 over
 *
 *	id|xid|at|actor|table_name|op|row_key|entity_id|first_in_xact|data
 *
 * with at as microseconds since the Unix epoch (so that neither TimeZone
 * nor DateStyle enter), an empty entity_id for NULL, t or f for the flag,
 * and data as jsonb's canonical text.
 *
 * src/audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "ar.h"

PG_FUNCTION_INFO_V1(ar_audit_row_hash);
PG_FUNCTION_INFO_V1(ar_audit_capture);
PG_FUNCTION_INFO_V1(ar_audit_capturing);

/* set while flush_chunk inserts audit rows: the guard of ar.audit lets those in */
static bool capturing = false;

/* rows per INSERT into ar.audit */
#define CAPTURE_CHUNK 4096

/*
 * What hashes audit rows: one sha256 context and one text buffer, set up
 * once per statement and reused for each of its rows.
 */
typedef struct AuditHasher
{
	pg_cryptohash_ctx *ctx;
	StringInfoData buf;
} AuditHasher;

static void
hasher_init(AuditHasher *h)
{
	h->ctx = pg_cryptohash_create(PG_SHA256);
	if (h->ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	initStringInfo(&h->buf);
}

static void
hasher_free(AuditHasher *h)
{
	pg_cryptohash_free(h->ctx);
	pfree(h->buf.data);
}

/*
 * The hash of one audit row.  actor, table_name, op and row_key are given
 * with their lengths (text arguments are not NUL-terminated).
 */
static bytea *
audit_hash(AuditHasher *h, int64 id, FullTransactionId xid, TimestampTz at,
		   const char *const *texts, const int *lens,
		   bool entity_null, int32 entity_id, bool first, Jsonb *data)
{
	StringInfo	buf = &h->buf;
	bytea	   *result;

	resetStringInfo(buf);
	appendStringInfo(buf, INT64_FORMAT "|" UINT64_FORMAT "|" INT64_FORMAT "|",
					 id, U64FromFullTransactionId(xid),
					 (int64) (at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
	/* each text with its length first: no field can be shifted into another */
	for (int i = 0; i < 4; i++)
	{
		appendStringInfo(buf, "%d:", lens[i]);
		appendBinaryStringInfo(buf, texts[i], lens[i]);
		appendStringInfoChar(buf, '|');
	}
	if (!entity_null)
		appendStringInfo(buf, "%d", entity_id);
	appendStringInfo(buf, "|%c|", first ? 't' : 'f');
	(void) JsonbToCString(buf, &data->root, VARSIZE(data));

	result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	if (pg_cryptohash_init(h->ctx) < 0 ||
		pg_cryptohash_update(h->ctx, (const uint8 *) buf->data, buf->len) < 0 ||
		pg_cryptohash_final(h->ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute the sha256 of audit row " INT64_FORMAT ": %s",
			 id, pg_cryptohash_error(h->ctx));
	return result;
}

Datum
ar_audit_row_hash(PG_FUNCTION_ARGS)
{
	const char *texts[4];
	int			lens[4];
	AuditHasher h;
	bytea	   *hash;

	for (int i = 0; i < PG_NARGS(); i++)
		if (i != 7 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of ar.audit_row_hash must not be null", i + 1)));
	for (int i = 0; i < 4; i++)
	{
		text	   *t = PG_GETARG_TEXT_PP(3 + i);

		texts[i] = VARDATA_ANY(t);
		lens[i] = VARSIZE_ANY_EXHDR(t);
	}
	hasher_init(&h);
	hash = audit_hash(&h, PG_GETARG_INT64(0), PG_GETARG_FULLTRANSACTIONID(1),
					  PG_GETARG_TIMESTAMPTZ(2), texts, lens,
					  PG_ARGISNULL(7), PG_ARGISNULL(7) ? 0 : PG_GETARG_INT32(7),
					  PG_GETARG_BOOL(9), PG_GETARG_JSONB_P(8));
	hasher_free(&h);
	PG_RETURN_BYTEA_P(hash);
}

/* ------------------------------------------------------------------------
 * The capture trigger
 * ------------------------------------------------------------------------ */

/* What the capture knows about the audited table's columns. */
typedef struct CaptureTable
{
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	id_att;			/* "id", or 0 */
	AttrNumber	invoice_att;	/* "invoice_id", or 0 */
	AttrNumber	line_att;		/* "line_no", or 0 */
	AttrNumber	entity_att;		/* "entity_id", or 0 */
	FmgrInfo	row_to_jsonb;	/* to_jsonb(the row type) */
	FmgrInfo   *col_to_jsonb;	/* to_jsonb(column type), set up on first use */
	MemoryContext cxt;			/* where col_to_jsonb lives */
} CaptureTable;

/* One chunk of audit rows waiting for their INSERT. */
typedef struct CaptureChunk
{
	int			n;
	Datum		ids[CAPTURE_CHUNK];
	Datum		keys[CAPTURE_CHUNK];
	Datum		entities[CAPTURE_CHUNK];
	bool		entity_nulls[CAPTURE_CHUNK];
	Datum		data[CAPTURE_CHUNK];
	Datum		hashes[CAPTURE_CHUNK];
} CaptureChunk;

/* The parts every row of one statement shares. */
typedef struct CaptureStatement
{
	FullTransactionId xid;
	TimestampTz at;
	const char *texts[4];		/* actor, table_name, op; row_key set per row */
	int			lens[4];
	int64		first_id;		/* the row that asks for a seal, or 0 */
	bool		need_seal;
	HTAB	   *invoice_entity; /* invoice id -> entity, for tables without one */
} CaptureStatement;

typedef struct InvoiceEntity
{
	int64		invoice_id;
	int32		entity_id;
	bool		found;
} InvoiceEntity;

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr need_seal_plan = NULL;
static SPIPlanPtr entity_plan = NULL;

static SPIPlanPtr
keep_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*cache = plan;
	}
	return *cache;
}

/* fmgr info for to_jsonb of a value of type typid */
static void
to_jsonb_info(FmgrInfo *flinfo, Oid typid, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	fmgr_info_cxt(F_TO_JSONB, flinfo, cxt);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
											 list_make1(makeNullConst(typid, -1, InvalidOid)),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   flinfo);
	MemoryContextSwitchTo(old);
}

static void
capture_table_init(CaptureTable *t, Relation rel)
{
	t->rel = rel;
	t->desc = RelationGetDescr(rel);
	t->id_att = t->invoice_att = t->line_att = t->entity_att = 0;
	for (int i = 0; i < t->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(t->desc, i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		if (strcmp(name, "id") == 0 && att->atttypid == INT8OID)
			t->id_att = att->attnum;
		else if (strcmp(name, "invoice_id") == 0 && att->atttypid == INT8OID)
			t->invoice_att = att->attnum;
		else if (strcmp(name, "line_no") == 0 && att->atttypid == INT4OID)
			t->line_att = att->attnum;
		else if (strcmp(name, "entity_id") == 0 && att->atttypid == INT4OID)
			t->entity_att = att->attnum;
	}
	if (t->id_att == 0 && (t->invoice_att == 0 || t->line_att == 0))
		elog(ERROR, "ar.audit_capture: table \"%s\" has neither id nor invoice_id and line_no",
			 RelationGetRelationName(rel));
	to_jsonb_info(&t->row_to_jsonb, rel->rd_rel->reltype, CurrentMemoryContext);
	t->cxt = CurrentMemoryContext;
	t->col_to_jsonb = palloc0(sizeof(FmgrInfo) * t->desc->natts);
}

/* the row's key: its id, or invoice_id/line_no for a line */
static Datum
row_key(CaptureTable *t, TupleTableSlot *slot)
{
	char		buf[64];

	if (t->id_att != 0)
		snprintf(buf, sizeof(buf), INT64_FORMAT,
				 DatumGetInt64(slot->tts_values[t->id_att - 1]));
	else
		snprintf(buf, sizeof(buf), INT64_FORMAT "/%d",
				 DatumGetInt64(slot->tts_values[t->invoice_att - 1]),
				 DatumGetInt32(slot->tts_values[t->line_att - 1]));
	return CStringGetTextDatum(buf);
}

/* jsonb of the whole row, as to_jsonb(row) */
static Jsonb *
row_jsonb(CaptureTable *t, TupleTableSlot *slot)
{
	return DatumGetJsonbP(FunctionCall1(&t->row_to_jsonb, ExecFetchSlotHeapTupleDatum(slot)));
}

static bool
same_value(Form_pg_attribute att, Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull == bnull;
	if (datumIsEqual(a, b, att->attbyval, att->attlen))
		return true;
	if (att->attlen == -1)
	{
		/* the same value may be stored compressed or not */
		struct varlena *x = PG_DETOAST_DATUM_PACKED(a);
		struct varlena *y = PG_DETOAST_DATUM_PACKED(b);

		return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
			memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
	}
	return false;
}

/* jsonb of the columns an update changed, with their new values */
static Jsonb *
changed_jsonb(CaptureTable *t, TupleTableSlot *old, TupleTableSlot *new)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < t->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(t->desc, i);
		JsonbValue	key;
		JsonbValue	val;

		if (att->attisdropped ||
			same_value(att, old->tts_values[i], old->tts_isnull[i],
					   new->tts_values[i], new->tts_isnull[i]))
			continue;
		key.type = jbvString;
		key.val.string.val = NameStr(att->attname);
		key.val.string.len = strlen(key.val.string.val);
		pushJsonbValue(&state, WJB_KEY, &key);
		if (new->tts_isnull[i])
			val.type = jbvNull;
		else
		{
			Jsonb	   *jb;

			if (t->col_to_jsonb[i].fn_oid == InvalidOid)
				to_jsonb_info(&t->col_to_jsonb[i], att->atttypid, t->cxt);
			jb = DatumGetJsonbP(FunctionCall1(&t->col_to_jsonb[i], new->tts_values[i]));
			if (!JsonbExtractScalar(&jb->root, &val))
			{
				val.type = jbvBinary;
				val.val.binary.data = &jb->root;
				val.val.binary.len = VARSIZE(jb) - VARHDRSZ;
			}
		}
		pushJsonbValue(&state, WJB_VALUE, &val);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * The entities of the invoices the rows of a table without entity_id refer
 * to (lines, allocations), one query for all of them.
 */
static HTAB *
invoice_entities(CaptureTable *t, Tuplestorestate *ts, TupleTableSlot *slot)
{
	HASHCTL		ctl;
	HTAB	   *h;
	int			n = 0;
	int			cap = 1024;
	Datum	   *ids = palloc(sizeof(Datum) * cap);
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	int			rc;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(InvoiceEntity);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("ar audit invoice entities", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, t->invoice_att, &isnull);
		int64		id;
		bool		found;

		if (isnull)
			continue;
		id = DatumGetInt64(d);
		(void) hash_search(h, &id, HASH_ENTER, &found);
		if (found)
			continue;
		if (n == cap)
		{
			cap *= 2;
			ids = repalloc(ids, sizeof(Datum) * cap);
		}
		ids[n++] = Int64GetDatum(id);
	}
	tuplestore_rescan(ts);
	if (n == 0)
		return h;

	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	rc = SPI_execute_plan(keep_plan(&entity_plan,
									"SELECT i.id, i.entity_id FROM ar.invoice i WHERE i.id = ANY ($1)",
									1, types),
						  values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "ar.audit_capture: the invoice entity query failed: %s", SPI_result_code_string(rc));
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		InvoiceEntity *e = hash_search(h, &id, HASH_FIND, NULL);

		if (e != NULL)
		{
			e->entity_id = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			e->found = !isnull;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return h;
}

static void
row_entity(CaptureTable *t, CaptureStatement *st, TupleTableSlot *slot, Datum *entity, bool *isnull)
{
	*isnull = true;
	*entity = (Datum) 0;
	if (t->entity_att != 0)
	{
		*entity = slot->tts_values[t->entity_att - 1];
		*isnull = slot->tts_isnull[t->entity_att - 1];
	}
	else if (t->invoice_att != 0 && !slot->tts_isnull[t->invoice_att - 1])
	{
		int64		id = DatumGetInt64(slot->tts_values[t->invoice_att - 1]);
		InvoiceEntity *e = hash_search(st->invoice_entity, &id, HASH_FIND, NULL);

		if (e != NULL && e->found)
		{
			*entity = Int32GetDatum(e->entity_id);
			*isnull = false;
		}
	}
}

static void
flush_chunk(CaptureStatement *st, CaptureChunk *c)
{
	Oid			types[11] = {INT8ARRAYOID, XID8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	INT8OID, TEXTARRAYOID, INT4ARRAYOID, JSONBARRAYOID, BYTEAARRAYOID};
	Datum		values[11];
	int			dims[1];
	int			lbs[1] = {1};
	int			rc;

	if (c->n == 0)
		return;
	dims[0] = c->n;
	values[0] = PointerGetDatum(construct_array(c->ids, c->n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = FullTransactionIdGetDatum(st->xid);
	values[2] = TimestampTzGetDatum(st->at);
	for (int i = 0; i < 3; i++)
		values[3 + i] = PointerGetDatum(cstring_to_text_with_len(st->texts[i], st->lens[i]));
	values[6] = Int64GetDatum(st->first_id);
	values[7] = PointerGetDatum(construct_array(c->keys, c->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[8] = PointerGetDatum(construct_md_array(c->entities, c->entity_nulls, 1, dims, lbs,
												   INT4OID, sizeof(int32), true, TYPALIGN_INT));
	values[9] = PointerGetDatum(construct_array(c->data, c->n, JSONBOID, -1, false, TYPALIGN_INT));
	values[10] = PointerGetDatum(construct_array(c->hashes, c->n, BYTEAOID, -1, false, TYPALIGN_INT));

	capturing = true;
	PG_TRY();
	{
		rc = SPI_execute_plan(keep_plan(&insert_plan,
										"INSERT INTO ar.audit (id, xid, at, actor, table_name, op, row_key,"
										"                      entity_id, data, first_in_xact, hash)"
										" SELECT u.id, $2, $3, $4, $5, $6, u.k, u.e, u.d, u.id = $7, u.h"
										"   FROM unnest($1, $8, $9, $10, $11) AS u (id, k, e, d, h)",
										11, types),
							  values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		capturing = false;
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT || SPI_processed != (uint64) c->n)
		elog(ERROR, "ar.audit_capture: writing %d audit rows failed: %s", c->n,
			 SPI_result_code_string(rc));
	c->n = 0;
}

/* does this transaction have no audit row waiting for a seal? */
static bool
need_seal(FullTransactionId xid)
{
	Oid			types[1] = {XID8OID};
	Datum		values[1] = {FullTransactionIdGetDatum(xid)};
	bool		isnull;
	bool		result;
	int			rc;

	rc = SPI_execute_plan(keep_plan(&need_seal_plan,
									"SELECT NOT EXISTS (SELECT 1 FROM ar.audit a WHERE a.xid = $1"
									"   AND a.id > coalesce((SELECT max(s.last_id) FROM ar.audit_seal s"
									"                          WHERE s.xid = $1), 0))",
									1, types),
						  values, NULL, false, 1);	/* a fresh snapshot: a seal made since counts */
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ar.audit_capture: the seal query failed: %s", SPI_result_code_string(rc));
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/* a read pointer of our own, at the start of the transition table */
static void
begin_scan(Tuplestorestate *ts)
{
	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
}

Datum
ar_audit_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	CaptureTable t;
	CaptureStatement st;
	CaptureChunk *chunk;
	Tuplestorestate *rows;
	Tuplestorestate *olds = NULL;
	TupleTableSlot *slot;
	TupleTableSlot *oldslot = NULL;
	MemoryContext rowcxt;
	const char *role;
	const char *op;
	Oid			nsp;
	Oid			seq;
	bool		first = true;
	AuditHasher hasher;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		elog(ERROR, "ar.audit_capture must be fired AFTER ... FOR EACH STATEMENT");
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "INSERT";
		rows = td->tg_newtable;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		op = "UPDATE";
		rows = td->tg_newtable;
		olds = td->tg_oldtable;
		if (olds == NULL)
			elog(ERROR, "ar.audit_capture on UPDATE needs REFERENCING OLD TABLE and NEW TABLE");
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = "DELETE";
		rows = td->tg_oldtable;
	}
	else
		elog(ERROR, "ar.audit_capture must be fired by INSERT, UPDATE or DELETE");
	if (rows == NULL)
		elog(ERROR, "ar.audit_capture needs a transition table (REFERENCING NEW TABLE or OLD TABLE)");

	/* ar's four tables only: rows of any other table would be forgeries */
	nsp = get_namespace_oid("ar", false);
	{
		Relation	rel = td->tg_relation;
		const char *name = RelationGetRelationName(rel);

		if (RelationGetNamespace(rel) != nsp ||
			(strcmp(name, "invoice") != 0 && strcmp(name, "invoice_line") != 0 &&
			 strcmp(name, "payment") != 0 && strcmp(name, "allocation") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("ar.audit_capture() audits ar.invoice, ar.invoice_line, ar.payment and ar.allocation only, not \"%s.%s\"",
							get_namespace_name(RelationGetNamespace(rel)), name)));
	}

	/* a restore loads the trail as it was dumped */
	if (ArRestoring(GetOuterUserId()))
		return PointerGetDatum(NULL);

	capture_table_init(&t, td->tg_relation);
	st.xid = GetTopFullTransactionId();
	st.at = GetCurrentTransactionStartTimestamp();
	role = GetConfigOption("role", false, false);
	st.texts[0] = (role == NULL || strcmp(role, "none") == 0)
		? GetUserNameFromId(GetSessionUserId(), false) : role;
	st.texts[1] = RelationGetRelationName(td->tg_relation);
	st.texts[2] = op;
	for (int i = 0; i < 3; i++)
		st.lens[i] = strlen(st.texts[i]);
	st.first_id = 0;
	st.invoice_entity = NULL;
	seq = get_relname_relid("audit_id_seq", nsp);
	if (!OidIsValid(seq))
		elog(ERROR, "ar.audit_capture: sequence ar.audit_id_seq is missing");

	slot = MakeSingleTupleTableSlot(t.desc, &TTSOpsMinimalTuple);
	begin_scan(rows);
	if (olds != NULL)
	{
		oldslot = MakeSingleTupleTableSlot(t.desc, &TTSOpsMinimalTuple);
		begin_scan(olds);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	st.need_seal = need_seal(st.xid);
	if (t.entity_att == 0 && t.invoice_att != 0)
		st.invoice_entity = invoice_entities(&t, rows, slot);

	chunk = palloc(sizeof(CaptureChunk));
	chunk->n = 0;
	hasher_init(&hasher);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "ar audit chunk", ALLOCSET_DEFAULT_SIZES);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		MemoryContext old;
		int			k = chunk->n;
		int64		id = nextval_internal(seq, false);
		Jsonb	   *data;
		text	   *key;
		bool		entity_null;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		if (olds != NULL)
		{
			if (!tuplestore_gettupleslot(olds, true, false, oldslot))
				elog(ERROR, "ar.audit_capture: the old and new transition tables differ in length");
			slot_getallattrs(oldslot);
		}
		old = MemoryContextSwitchTo(rowcxt);
		data = olds != NULL ? changed_jsonb(&t, oldslot, slot) : row_jsonb(&t, slot);
		key = DatumGetTextPP(row_key(&t, slot));
		/* a row's history is found by its key, so the key never changes */
		if (olds != NULL)
		{
			text	   *was = DatumGetTextPP(row_key(&t, oldslot));

			if (VARSIZE_ANY_EXHDR(was) != VARSIZE_ANY_EXHDR(key) ||
				memcmp(VARDATA_ANY(was), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the key of a row of ar.%s cannot change: %s would become %s",
								st.texts[1], text_to_cstring(was), text_to_cstring(key)),
						 errhint("Delete the row and insert it with the new key.")));
		}
		row_entity(&t, &st, slot, &chunk->entities[k], &entity_null);
		chunk->entity_nulls[k] = entity_null;
		if (first && st.need_seal)
			st.first_id = id;
		st.texts[3] = VARDATA_ANY(key);
		st.lens[3] = VARSIZE_ANY_EXHDR(key);
		chunk->ids[k] = Int64GetDatum(id);
		chunk->keys[k] = PointerGetDatum(key);
		chunk->data[k] = PointerGetDatum(data);
		chunk->hashes[k] = PointerGetDatum(audit_hash(&hasher, id, st.xid, st.at, st.texts, st.lens, entity_null,
													  entity_null ? 0 : DatumGetInt32(chunk->entities[k]),
													  first && st.need_seal, data));
		MemoryContextSwitchTo(old);
		first = false;
		if (++chunk->n == CAPTURE_CHUNK)
		{
			flush_chunk(&st, chunk);
			MemoryContextReset(rowcxt);
		}
	}
	flush_chunk(&st, chunk);
	MemoryContextDelete(rowcxt);
	hasher_free(&hasher);

	ExecDropSingleTupleTableSlot(slot);
	if (oldslot != NULL)
		ExecDropSingleTupleTableSlot(oldslot);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * ar.audit_capturing() → boolean: is ar.audit_capture inserting audit rows
 * right now.  The guard trigger of ar.audit refuses any other INSERT.
 */
Datum
ar_audit_capturing(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(capturing);
}
