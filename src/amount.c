/*-------------------------------------------------------------------------
 *
 * amount.c
 *	  Input, output, binary I/O, constructors and accessors of ar.amount.
 *
 * Text form: '<signed decimal> <CODE>', canonical on output with exactly the
 * currency's minor-unit digits ('1234.50 SEK', '-5 JPY', '0.125 KWD').  Input
 * also takes the code first ('SEK 1234.5') and surrounding blanks.  Input is
 * never rounded: excess fraction digits, digit group separators, NaN,
 * Infinity, exponents and out-of-range values are errors.
 *
 * src/amount.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/int.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "ar.h"
#include "compat.h"

/* Allocate an amount. */
ArAmount *
ArAmountMake(int64 units, uint32 currency)
{
	ArAmount   *a = (ArAmount *) palloc(sizeof(ArAmount));

	a->units = units;
	a->currency = currency;
	a->reserved = 0;
	return a;
}

/* Canonical text of an amount. */
char *
ArAmountToCString(const ArAmount *a)
{
	char		code[4];
	char		digits[32];
	int			minor = ArMinorUnit(a->currency);
	uint64		mag;
	int			n = 0;
	StringInfoData buf;

	ArCurrencyUnpack(a->currency, code);
	/* magnitude as unsigned so that INT64_MIN is fine */
	mag = a->units < 0 ? (uint64) 0 - (uint64) a->units : (uint64) a->units;
	do
	{
		digits[n++] = (char) ('0' + mag % 10);
		mag /= 10;
	} while (mag > 0);
	while (n <= minor)
		digits[n++] = '0';

	initStringInfo(&buf);
	if (a->units < 0)
		appendStringInfoChar(&buf, '-');
	for (int i = n - 1; i >= 0; i--)
	{
		appendStringInfoChar(&buf, digits[i]);
		if (i == minor && minor > 0)
			appendStringInfoChar(&buf, '.');
	}
	appendStringInfoChar(&buf, ' ');
	appendStringInfoString(&buf, code);
	return buf.data;
}

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline bool
word_is(const char *p, const char *word)
{
	return pg_strncasecmp(p, word, strlen(word)) == 0;
}

/*
 * The minor units of a decimal given as its integer and fraction digits
 * (frac_len <= minor_unit; missing fraction digits are zeros).  Accumulates
 * negatively, so that the whole int64 range is reachable, and negates
 * unless negative.  Returns false on overflow.  Shared by the text input of
 * ar.amount and the bank file parsers.
 */
bool
ArDecimalDigitsToUnits(const char *int_digits, int int_len, const char *frac_digits,
					   int frac_len, int minor_unit, bool negative, int64 *result)
{
	int64		units = 0;

	for (int i = 0; i < int_len + minor_unit; i++)
	{
		int			digit;

		if (i < int_len)
			digit = int_digits[i] - '0';
		else if (i - int_len < frac_len)
			digit = frac_digits[i - int_len] - '0';
		else
			digit = 0;
		if (unlikely(pg_mul_s64_overflow(units, 10, &units)) ||
			unlikely(pg_sub_s64_overflow(units, digit, &units)))
			return false;
	}
	if (!negative)
	{
		if (unlikely(units == PG_INT64_MIN))
			return false;
		units = -units;
	}
	*result = units;
	return true;
}

/*
 * Parse the text form.  Returns false after a soft error when escontext
 * asks for one.
 */
static bool
parse_amount(const char *str, ArAmount *result, Node *escontext)
{
	const char *p = str;
	const char *code = NULL;
	int			code_len = 0;
	const char *int_start;
	const char *frac_start = NULL;
	int			int_len = 0;
	int			frac_len = 0;
	bool		negative = false;
	uint32		packed;
	const ArCurrency *cur;
	int64		units = 0;

	while (is_blank(*p))
		p++;

	if (*p == '\0')
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
					errdetail("An amount needs a number and a currency code, for example '1234.50 SEK'.")));

	/* Optional leading code: 'SEK 1234.50' */
	if (isalpha((unsigned char) *p) && !word_is(p, "nan") && !word_is(p, "inf"))
	{
		code = p;
		while (isalpha((unsigned char) *p))
			p++;
		if (p - code != 3 || !is_blank(*p))
			AR_ERETURN(escontext, false,
					   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
						errdetail("The currency code must be three letters separated from the number by a blank.")));
		while (is_blank(*p))
			p++;
	}

	if (*p == '+' || *p == '-')
	{
		negative = (*p == '-');
		p++;
	}

	if (word_is(p, "nan") || word_is(p, "inf"))
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
					errdetail("NaN and Infinity are not amounts of money.")));

	int_start = p;
	while (isdigit((unsigned char) *p))
		p++;
	int_len = p - int_start;
	if (*p == '.')
	{
		p++;
		frac_start = p;
		while (isdigit((unsigned char) *p))
			p++;
		frac_len = p - frac_start;
	}
	if (int_len + frac_len == 0)
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
					errdetail("An amount needs a number and a currency code, for example '1234.50 SEK'.")));

	/* Digit group separators: '1,234.50', '1 234', "1'234", '1_234' */
	if (*p == ',' || *p == '\'' || *p == '_' ||
		(is_blank(*p) && frac_start == NULL && isdigit((unsigned char) p[1])))
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
					errdetail("Digit group separators and decimal commas are not accepted; write the number as in '1234.50 SEK'.")));
	if (*p == 'e' || *p == 'E')
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
					errdetail("Exponent notation is not accepted for amounts.")));

	if (code == NULL)
	{
		while (is_blank(*p))
			p++;
		code = p;
		while (isalpha((unsigned char) *p))
			p++;
		code_len = p - code;
		if (code_len == 0)
			AR_ERETURN(escontext, false,
					   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
						errdetail("The currency code is missing, as in '1234.50 SEK'.")));
	}
	else
		code_len = 3;			/* checked above */
	packed = ArCurrencyPack(code, code_len);
	while (is_blank(*p))
		p++;
	if (*p != '\0')
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type ar.amount: \"%s\"", str),
					errdetail("Unexpected text \"%s\" after the amount.", p)));

	cur = ArCurrencyLookup(packed);
	if (cur == NULL)
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown currency code \"%.*s\" in amount \"%s\"",
						   code_len, code, str),
					errhint("Use an ISO 4217 alphabetic code listed in ar.currency.")));
	if (cur->minor_unit < 0)
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("currency \"%s\" has no minor unit and cannot hold amounts",
						   cur->code),
					errdetail("ISO 4217 lists no minor unit (N.A.) for %s (%s).",
							  cur->code, cur->name)));
	if (frac_len > cur->minor_unit)
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("too many fraction digits for currency %s: \"%s\"",
						   cur->code, str),
					errdetail("%s has %d minor-unit digits and amounts are never rounded on input.",
							  cur->code, cur->minor_unit),
					errhint("Round explicitly with ar.round_amount().")));

	if (!ArDecimalDigitsToUnits(int_start, int_len, frac_start, frac_len, cur->minor_unit,
								negative, &units))
		AR_ERETURN(escontext, false,
				   (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					errmsg("amount out of range: \"%s\"", str),
					errdetail("An amount holds at most 9223372036854775807 minor units of its currency.")));

	result->units = units;
	result->currency = packed;
	result->reserved = 0;
	return true;
}

/*
 * ar.amount input function.
 */
PG_FUNCTION_INFO_V1(ar_amount_in);
Datum
ar_amount_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	ArAmount   *result = (ArAmount *) palloc(sizeof(ArAmount));

	if (!parse_amount(str, result, fcinfo->context))
		PG_RETURN_NULL();
	PG_RETURN_AMOUNT_P(result);
}

/*
 * ar.amount output function.
 */
PG_FUNCTION_INFO_V1(ar_amount_out);
Datum
ar_amount_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(ArAmountToCString(PG_GETARG_AMOUNT_P(0)));
}

/*
 * ar.amount binary input: int8 minor units, then the three ASCII letters of
 * the code.  Checked like text input.
 */
PG_FUNCTION_INFO_V1(ar_amount_recv);
Datum
ar_amount_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int64		units = pq_getmsgint64(buf);
	char		code[4];
	uint32		packed;
	const ArCurrency *cur;

	pq_copymsgbytes(buf, code, 3);
	code[3] = '\0';
	packed = ArCurrencyPack(code, 3);
	cur = ArCurrencyLookup(packed);
	if (cur == NULL || cur->minor_unit < 0 || code[0] < 'A' || code[0] > 'Z' ||
		code[1] < 'A' || code[1] > 'Z' || code[2] < 'A' || code[2] > 'Z')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid currency code in external ar.amount value: bytes %02x %02x %02x",
						(unsigned char) code[0], (unsigned char) code[1],
						(unsigned char) code[2])));
	PG_RETURN_AMOUNT_P(ArAmountMake(units, packed));
}

/*
 * ar.amount binary output.
 */
PG_FUNCTION_INFO_V1(ar_amount_send);
Datum
ar_amount_send(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	StringInfoData buf;
	char		code[4];

	ArCurrencyUnpack(a->currency, code);
	pq_begintypsend(&buf);
	pq_sendint64(&buf, a->units);
	pq_sendbytes(&buf, code, 3);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* A numeric holding units / 10^scale, with exactly that scale. */
Datum
ArUnitsToNumeric(int64 units, int scale)
{
	return NumericGetDatum(int64_div_fast_to_numeric(units, scale));
}

/*
 * An integral numeric as int64; *overflow is set when it does not fit.
 */
int64
ArNumericToInt64(Datum num, bool *overflow)
{
	static const int64 bounds[2] = {PG_INT64_MIN, PG_INT64_MAX};

	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, num,
										  NumericGetDatum(int64_to_numeric(bounds[0])))) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, num,
										  NumericGetDatum(int64_to_numeric(bounds[1])))) > 0)
	{
		*overflow = true;
		return 0;
	}
	*overflow = false;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, num));
}

/*
 * Convert a numeric in currency units to minor units.  With round, round
 * half away from zero; without, raise an error when the value has more
 * non-zero fraction digits than the currency.  Out of range is an error.
 */
int64
ArNumericToUnits(Datum num, uint32 currency, bool round)
{
	int			minor = ArMinorUnit(currency);
	Datum		scaled;
	Datum		rounded;
	Numeric		n = DatumGetNumeric(num);
	char		code[4];
	bool		have_error = false;
	int64		result;

	ArCurrencyUnpack(currency, code);
	if (numeric_is_nan(n) || numeric_is_inf(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot make an amount of %s from %s", code,
						numeric_normalize(n))));

	scaled = NumericGetDatum(numeric_mul_opt_error(n,
												   int64_to_numeric(ArPow10[minor]),
												   &have_error));
	if (have_error)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount out of range: %s %s", numeric_normalize(n), code)));
	rounded = DirectFunctionCall2(numeric_round, scaled, Int32GetDatum(0));
	if (!round && DatumGetInt32(DirectFunctionCall2(numeric_cmp, rounded, scaled)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many fraction digits for currency %s: %s",
						code, numeric_normalize(n)),
				 errdetail("%s has %d minor-unit digits and amounts are never rounded implicitly.",
						   code, minor),
				 errhint("Round explicitly with ar.round_amount().")));

	result = ArNumericToInt64(rounded, &have_error);
	if (have_error)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount out of range: %s %s", numeric_normalize(n), code),
				 errdetail("An amount holds at most 9223372036854775807 minor units of its currency.")));
	return result;
}

/*
 * ar.amount(value numeric, currency text): exact; excess decimals are an
 * error.
 */
PG_FUNCTION_INFO_V1(ar_amount_from_numeric);
Datum
ar_amount_from_numeric(PG_FUNCTION_ARGS)
{
	uint32		cur = ArCurrencyParse(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	PG_RETURN_AMOUNT_P(ArAmountMake(ArNumericToUnits(PG_GETARG_DATUM(0), cur, false),
									cur));
}

/*
 * ar.round_amount(value numeric, currency text): rounds half away from zero
 * to the currency's minor unit.
 */
PG_FUNCTION_INFO_V1(ar_round_amount);
Datum
ar_round_amount(PG_FUNCTION_ARGS)
{
	uint32		cur = ArCurrencyParse(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	PG_RETURN_AMOUNT_P(ArAmountMake(ArNumericToUnits(PG_GETARG_DATUM(0), cur, true),
									cur));
}

/*
 * ar.amount_of_minor(units bigint, currency text): an amount from a count
 * of minor units (öre, cents), as bank files carry them.
 */
PG_FUNCTION_INFO_V1(ar_amount_of_minor);
Datum
ar_amount_of_minor(PG_FUNCTION_ARGS)
{
	int64		units = PG_GETARG_INT64(0);
	uint32		cur = ArCurrencyParse(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	PG_RETURN_AMOUNT_P(ArAmountMake(units, cur));
}

/*
 * ar.currency_of(ar.amount) → text
 */
PG_FUNCTION_INFO_V1(ar_currency_of);
Datum
ar_currency_of(PG_FUNCTION_ARGS)
{
	char		code[4];

	ArCurrencyUnpack(PG_GETARG_AMOUNT_P(0)->currency, code);
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/*
 * ar.value_of(ar.amount) → numeric with the currency's minor-unit scale
 */
PG_FUNCTION_INFO_V1(ar_value_of);
Datum
ar_value_of(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);

	PG_RETURN_DATUM(ArUnitsToNumeric(a->units, ArMinorUnit(a->currency)));
}

/*
 * ar.major_units(units numeric, currency text) → numeric: units minor units
 * of the currency as an exact number of major units, at the currency's
 * scale (12345, 'SEK' → 123.45).  C, not SQL: the KPIs call it for every
 * aged row, and a SQL function read ar.currency on every call (aging 30 000
 * customers took 3.6 s, 32 million currency rows read).  An unknown code is
 * an error that names it.
 */
PG_FUNCTION_INFO_V1(ar_major_units);
Datum
ar_major_units(PG_FUNCTION_ARGS)
{
	Datum		units = PG_GETARG_DATUM(0);
	char	   *code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			scale = ArMinorUnit(ArCurrencyParse(code));
	Datum		major = DirectFunctionCall2(numeric_mul, units, ArUnitsToNumeric(1, scale));

	PG_RETURN_DATUM(DirectFunctionCall2(numeric_round, major, Int32GetDatum(scale)));
}

/*
 * ar.minor_units(ar.amount) → bigint
 */
PG_FUNCTION_INFO_V1(ar_minor_units);
Datum
ar_minor_units(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_AMOUNT_P(0)->units);
}
