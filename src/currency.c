/*-------------------------------------------------------------------------
 *
 * currency.c
 *	  The ISO 4217 currency table and O(1) lookups by alphabetic code.
 *
 * The data lives in currency_data.h, one X-macro row per code; this file
 * holds only the logic.  ar.currency is filled from ar.iso4217() when the
 * extension is created, so the C table is the one source of truth.
 *
 * src/currency.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"

#include "ar.h"

static const ArCurrency currencies[] = {
#define AR_CURRENCY(code, num, minor, name) {code, num, minor, name},
#include "currency_data.h"
#undef AR_CURRENCY
};

#define NUM_CURRENCIES lengthof(currencies)
#define CODE_SPACE (26 * 26 * 26)

/* Index + 1 into currencies[] for every possible three-letter code. */
static int16 code_index[CODE_SPACE];

const int64 ArPow10[] = {
	INT64CONST(1), INT64CONST(10), INT64CONST(100), INT64CONST(1000),
	INT64CONST(10000), INT64CONST(100000), INT64CONST(1000000),
	INT64CONST(10000000), INT64CONST(100000000), INT64CONST(1000000000),
	INT64CONST(10000000000), INT64CONST(100000000000),
	INT64CONST(1000000000000), INT64CONST(10000000000000),
	INT64CONST(100000000000000), INT64CONST(1000000000000000),
	INT64CONST(10000000000000000), INT64CONST(100000000000000000),
	INT64CONST(1000000000000000000)
};

static inline int
packed_slot(uint32 packed)
{
	int			c0 = (packed >> 16) & 0xff;
	int			c1 = (packed >> 8) & 0xff;
	int			c2 = packed & 0xff;

	return (c0 - 'A') * 676 + (c1 - 'A') * 26 + (c2 - 'A');
}

/* Build the code index; called once from _PG_init. */
void
ArCurrencyInit(void)
{
	for (int i = 0; i < (int) NUM_CURRENCIES; i++)
	{
		uint32		packed = ArCurrencyPack(currencies[i].code, 3);

		if (packed == 0)
			elog(ERROR, "malformed currency code in table: \"%s\"",
				 currencies[i].code);
		code_index[packed_slot(packed)] = (int16) (i + 1);
	}
}

/*
 * Pack a three-letter code; lower case is folded to upper case.  Returns 0
 * unless the input is exactly three ASCII letters.
 */
uint32
ArCurrencyPack(const char *code, int len)
{
	uint32		packed = 0;

	if (len != 3)
		return 0;
	for (int i = 0; i < 3; i++)
	{
		char		c = code[i];

		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		if (c < 'A' || c > 'Z')
			return 0;
		packed = (packed << 8) | (uint32) (unsigned char) c;
	}
	return packed;
}

/* Write the three letters and a terminating NUL into buf[4]. */
void
ArCurrencyUnpack(uint32 packed, char *buf)
{
	buf[0] = (char) ((packed >> 16) & 0xff);
	buf[1] = (char) ((packed >> 8) & 0xff);
	buf[2] = (char) (packed & 0xff);
	buf[3] = '\0';
}

/* The table row of a packed code, or NULL when ISO 4217 has no such code. */
const ArCurrency *
ArCurrencyLookup(uint32 packed)
{
	int			idx;

	if (packed == 0)
		return NULL;
	idx = code_index[packed_slot(packed)];
	return idx > 0 ? &currencies[idx - 1] : NULL;
}

/* Minor-unit digits of a code known to be valid for amounts. */
int
ArMinorUnit(uint32 packed)
{
	const ArCurrency *cur = ArCurrencyLookup(packed);

	if (cur == NULL || cur->minor_unit < 0)
		elog(ERROR, "amount carries an invalid currency (%08x)", packed);
	return cur->minor_unit;
}

/*
 * Parse a currency code given as a function argument.  Raises an error that
 * names the code when it is not an ISO 4217 code usable for amounts.
 */
uint32
ArCurrencyParse(const char *code)
{
	uint32		packed = ArCurrencyPack(code, strlen(code));
	const ArCurrency *cur = ArCurrencyLookup(packed);

	if (cur == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown currency code \"%s\"", code),
				 errhint("Use an ISO 4217 alphabetic code listed in ar.currency.")));
	if (cur->minor_unit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency \"%s\" has no minor unit and cannot hold amounts",
						cur->code),
				 errdetail("ISO 4217 lists no minor unit (N.A.) for %s (%s).",
						   cur->code, cur->name)));
	return packed;
}

/*
 * ar.currency_usable(code text) → boolean: true for an ISO 4217 code, in
 * upper case, that can hold amounts; otherwise an error naming the code.
 * The CHECK of every currency column of the schema, so that an entity,
 * customer, invoice or order in gold (XAU) is refused when it is written,
 * not at its first amount.  Immutable: the list is compiled in.
 */
PG_FUNCTION_INFO_V1(ar_currency_usable);
Datum
ar_currency_usable(PG_FUNCTION_ARGS)
{
	char	   *code = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint32		packed = ArCurrencyParse(code);
	char		canonical[4];

	/* the columns reference ar.currency, which holds the codes upper case */
	ArCurrencyUnpack(packed, canonical);
	if (strcmp(code, canonical) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency code \"%s\" must be written \"%s\"", code, canonical),
				 errhint("Currency columns hold ISO 4217 codes in upper case, as in ar.currency.")));
	PG_RETURN_BOOL(true);
}

/*
 * ar.iso4217(): the compiled ISO 4217 table, used to fill ar.currency.
 */
PG_FUNCTION_INFO_V1(ar_iso4217);
Datum
ar_iso4217(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);

	for (int i = 0; i < (int) NUM_CURRENCIES; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(currencies[i].code);
		values[1] = Int16GetDatum(currencies[i].numeric_code);
		if (currencies[i].minor_unit < 0)
			nulls[2] = true;
		else
			values[2] = Int16GetDatum(currencies[i].minor_unit);
		values[3] = CStringGetTextDatum(currencies[i].name);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
