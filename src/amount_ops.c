/*-------------------------------------------------------------------------
 *
 * amount_ops.c
 *	  Operators, btree and hash support, and aggregates of ar.amount.
 *
 * Every binary operator requires one currency and otherwise raises an error
 * naming both.  Sums and differences are overflow-checked; multiplication
 * and division by numeric round half away from zero to the minor unit, with
 * the remainder computed exactly so that no double rounding can happen.
 *
 * src/amount_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "ar.h"

/* Raise the overflow error; expr shows the operation and its operands. */
static void
report_overflow(const char *expr)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("ar.amount out of range: %s", expr),
			 errdetail("An amount holds at most 9223372036854775807 minor units of its currency.")));
}

static void
report_overflow2(const ArAmount *a, const char *op, const char *b)
{
	report_overflow(psprintf("%s %s %s", ArAmountToCString(a), op, b));
}

/* The mixed-currency error, naming both; see ArCheckSameCurrency(). */
void
ArReportCurrencyMismatch(const ArAmount *a, const ArAmount *b)
{
	char		ca[4];
	char		cb[4];

	ArCurrencyUnpack(a->currency, ca);
	ArCurrencyUnpack(b->currency, cb);
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("cannot combine amounts in different currencies: %s and %s",
					ca, cb),
			 errhint("Convert one side first with ar.convert().")));
	pg_unreachable();
}

static inline int
amount_cmp_internal(const ArAmount *a, const ArAmount *b)
{
	ArCheckSameCurrency(a, b);
	if (a->units < b->units)
		return -1;
	if (a->units > b->units)
		return 1;
	return 0;
}

#define AMOUNT_CMP_FN(name, expr) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = amount_cmp_internal(PG_GETARG_AMOUNT_P(0), PG_GETARG_AMOUNT_P(1)); \
	PG_RETURN_BOOL(expr); \
}

/* ar.amount = ar.amount, and the other comparison operators */
AMOUNT_CMP_FN(ar_amount_eq, c == 0)
AMOUNT_CMP_FN(ar_amount_ne, c != 0)
AMOUNT_CMP_FN(ar_amount_lt, c < 0)
AMOUNT_CMP_FN(ar_amount_le, c <= 0)
AMOUNT_CMP_FN(ar_amount_gt, c > 0)
AMOUNT_CMP_FN(ar_amount_ge, c >= 0)

/*
 * btree support function 1
 */
PG_FUNCTION_INFO_V1(ar_amount_cmp);
Datum
ar_amount_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(amount_cmp_internal(PG_GETARG_AMOUNT_P(0), PG_GETARG_AMOUNT_P(1)));
}

/*
 * Hash over the 12 meaningful bytes (units, then currency).  The 32-bit hash
 * equals the low half of the extended hash with seed 0, as access/hash.h
 * requires.
 */
#define AMOUNT_HASH_BYTES (sizeof(int64) + sizeof(uint32))
StaticAssertDecl(offsetof(ArAmount, currency) == sizeof(int64),
				 "ArAmount must keep units and currency adjacent");

/*
 * hash support function 1
 */
PG_FUNCTION_INFO_V1(ar_amount_hash);
Datum
ar_amount_hash(PG_FUNCTION_ARGS)
{
	return hash_any((const unsigned char *) PG_GETARG_AMOUNT_P(0), AMOUNT_HASH_BYTES);
}

/*
 * hash support function 2 (extended, seeded)
 */
PG_FUNCTION_INFO_V1(ar_amount_hash_extended);
Datum
ar_amount_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_any_extended((const unsigned char *) PG_GETARG_AMOUNT_P(0),
							 AMOUNT_HASH_BYTES, PG_GETARG_INT64(1));
}

/* Total order by (currency, units), for ANALYZE only: never user-visible. */
static int
amount_total_cmp(const void *a, const void *b)
{
	const ArAmount *x = (const ArAmount *) a;
	const ArAmount *y = (const ArAmount *) b;

	if (x->currency != y->currency)
		return x->currency < y->currency ? -1 : 1;
	if (x->units != y->units)
		return x->units < y->units ? -1 : 1;
	return 0;
}

/*
 * ANALYZE statistics for ar.amount: null fraction, width and the number of
 * distinct values.  No MCV list or histogram: using them would make the
 * planner compare amounts of different currencies, which raises an error,
 * so a column mixing currencies could not be analyzed or planned.
 */
static void
compute_amount_stats(VacAttrStats *stats, AnalyzeAttrFetchFunc fetchfunc,
					 int samplerows, double totalrows)
{
	ArAmount   *values = palloc(sizeof(ArAmount) * Max(samplerows, 1));
	int			nonnull = 0;
	int			nulls = 0;
	int			distinct = 0;
	int			once = 0;

	for (int i = 0; i < samplerows; i++)
	{
		bool		isnull;
		Datum		d;

		vacuum_delay_point();
		d = fetchfunc(stats, i, &isnull);
		if (isnull)
		{
			nulls++;
			continue;
		}
		values[nonnull++] = *DatumGetArAmountP(d);
	}

	stats->stats_valid = true;
	stats->stawidth = sizeof(ArAmount);
	stats->stanullfrac = samplerows > 0 ? (float4) nulls / samplerows : 0;
	if (nonnull == 0)
	{
		stats->stadistinct = 0.0;
		return;
	}

	qsort(values, nonnull, sizeof(ArAmount), amount_total_cmp);
	for (int i = 0; i < nonnull;)
	{
		int			j = i + 1;

		while (j < nonnull && amount_total_cmp(&values[i], &values[j]) == 0)
			j++;
		distinct++;
		if (j - i == 1)
			once++;
		i = j;
	}

	if (once == nonnull)
		stats->stadistinct = -1.0 * (1.0 - stats->stanullfrac);
	else if (once == 0)
		stats->stadistinct = distinct;
	else
	{
		/* Haas and Stokes' Duj1 estimator, as analyze.c uses it */
		double		n = samplerows;
		double		N = totalrows;
		double		est = (n * distinct) / ((n - once) + once * n / N);

		est = Max(est, distinct);
		est = Min(est, N);
		stats->stadistinct = (float4) (int64) (est + 0.5);
	}
	if (stats->stadistinct > 0.1 * totalrows)
		stats->stadistinct = -(stats->stadistinct / totalrows);
}

/*
 * ar.amount_typanalyze(internal): the ANALYZE hook of ar.amount.
 */
PG_FUNCTION_INFO_V1(ar_amount_typanalyze);
Datum
ar_amount_typanalyze(PG_FUNCTION_ARGS)
{
	VacAttrStats *stats = (VacAttrStats *) PG_GETARG_POINTER(0);
	int			target = stats->attr->attstattarget;

	if (target < 0)
		target = default_statistics_target;
	stats->compute_stats = compute_amount_stats;
	stats->minrows = 300 * target;
	PG_RETURN_BOOL(true);
}

/*
 * ar.amount + ar.amount
 */
PG_FUNCTION_INFO_V1(ar_amount_pl);
Datum
ar_amount_pl(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	ArAmount   *b = PG_GETARG_AMOUNT_P(1);
	int64		r;

	ArCheckSameCurrency(a, b);
	if (unlikely(pg_add_s64_overflow(a->units, b->units, &r)))
		report_overflow2(a, "+", ArAmountToCString(b));
	PG_RETURN_AMOUNT_P(ArAmountMake(r, a->currency));
}

/*
 * ar.amount - ar.amount
 */
PG_FUNCTION_INFO_V1(ar_amount_mi);
Datum
ar_amount_mi(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	ArAmount   *b = PG_GETARG_AMOUNT_P(1);
	int64		r;

	ArCheckSameCurrency(a, b);
	if (unlikely(pg_sub_s64_overflow(a->units, b->units, &r)))
		report_overflow2(a, "-", ArAmountToCString(b));
	PG_RETURN_AMOUNT_P(ArAmountMake(r, a->currency));
}

/*
 * - ar.amount
 */
PG_FUNCTION_INFO_V1(ar_amount_um);
Datum
ar_amount_um(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	int64		r;

	if (unlikely(pg_sub_s64_overflow(0, a->units, &r)))
		report_overflow(psprintf("-(%s)", ArAmountToCString(a)));
	PG_RETURN_AMOUNT_P(ArAmountMake(r, a->currency));
}

/* -1, 0 or 1 */
static int
numeric_sgn(Datum num)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, num,
											 NumericGetDatum(int64_to_numeric(0))));
}

/* Convert a rounded, integral numeric to minor units or raise overflow. */
static int64
integral_numeric_to_units(Datum num, const ArAmount *a, const char *op, Numeric f)
{
	bool		have_error = false;
	int64		r = ArNumericToInt64(num, &have_error);

	if (have_error)
		report_overflow2(a, op, numeric_normalize(f));
	return r;
}

static ArAmount *
amount_times(const ArAmount *a, Datum factor)
{
	Numeric		f = DatumGetNumeric(factor);
	Datum		product;
	bool		have_error = false;

	if (numeric_is_nan(f) || numeric_is_inf(f))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot multiply an amount by %s", numeric_normalize(f))));
	product = NumericGetDatum(numeric_mul_opt_error(int64_to_numeric(a->units), f,
													&have_error));
	if (have_error)
		report_overflow2(a, "*", numeric_normalize(f));
	/* numeric rounding is half away from zero */
	product = DirectFunctionCall2(numeric_round, product, Int32GetDatum(0));
	return ArAmountMake(integral_numeric_to_units(product, a, "*", f), a->currency);
}

/*
 * ar.amount * numeric
 */
PG_FUNCTION_INFO_V1(ar_amount_mul_num);
Datum
ar_amount_mul_num(PG_FUNCTION_ARGS)
{
	PG_RETURN_AMOUNT_P(amount_times(PG_GETARG_AMOUNT_P(0), PG_GETARG_DATUM(1)));
}

/*
 * numeric * ar.amount
 */
PG_FUNCTION_INFO_V1(ar_num_mul_amount);
Datum
ar_num_mul_amount(PG_FUNCTION_ARGS)
{
	PG_RETURN_AMOUNT_P(amount_times(PG_GETARG_AMOUNT_P(1), PG_GETARG_DATUM(0)));
}

/*
 * ar.amount / numeric: the exact quotient rounded half away from zero.
 * q = trunc(u / d) and r = u - q * d are exact; |2r| >= |d| rounds away.
 */
PG_FUNCTION_INFO_V1(ar_amount_div_num);
Datum
ar_amount_div_num(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	Numeric		d = PG_GETARG_NUMERIC(1);
	Datum		u = NumericGetDatum(int64_to_numeric(a->units));
	Datum		q;
	Datum		r;
	Datum		twice_r;
	int64		result;

	if (numeric_is_nan(d) || numeric_is_inf(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot divide an amount by %s", numeric_normalize(d))));
	if (numeric_sgn(NumericGetDatum(d)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DIVISION_BY_ZERO),
				 errmsg("division by zero: %s / 0", ArAmountToCString(a))));

	q = DirectFunctionCall2(numeric_div_trunc, u, NumericGetDatum(d));
	r = DirectFunctionCall2(numeric_sub, u,
							DirectFunctionCall2(numeric_mul, q, NumericGetDatum(d)));
	twice_r = DirectFunctionCall1(numeric_abs,
								  DirectFunctionCall2(numeric_add, r, r));
	result = integral_numeric_to_units(q, a, "/", d);
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, twice_r,
										  DirectFunctionCall1(numeric_abs,
															  NumericGetDatum(d)))) >= 0)
	{
		/* the exact quotient's sign is sign(r) * sign(d); r != 0 here */
		bool		negative = (numeric_sgn(r) < 0) != (numeric_sgn(NumericGetDatum(d)) < 0);

		if (unlikely(pg_add_s64_overflow(result, negative ? -1 : 1, &result)))
			report_overflow2(a, "/", numeric_normalize(d));
	}
	PG_RETURN_AMOUNT_P(ArAmountMake(result, a->currency));
}

/*
 * ar.amount_larger / ar.amount_smaller: support for max() and min()
 */
PG_FUNCTION_INFO_V1(ar_amount_larger);
Datum
ar_amount_larger(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	ArAmount   *b = PG_GETARG_AMOUNT_P(1);

	PG_RETURN_AMOUNT_P(amount_cmp_internal(a, b) >= 0 ? a : b);
}

PG_FUNCTION_INFO_V1(ar_amount_smaller);
Datum
ar_amount_smaller(PG_FUNCTION_ARGS)
{
	ArAmount   *a = PG_GETARG_AMOUNT_P(0);
	ArAmount   *b = PG_GETARG_AMOUNT_P(1);

	PG_RETURN_AMOUNT_P(amount_cmp_internal(a, b) <= 0 ? a : b);
}

/*
 * sum(ar.amount) transition and combine function.  Strict with a NULL
 * initial state, so the executor copies the first value into the aggregate
 * context; from then on the state is updated in place, without a palloc
 * per row.  Outside an aggregate it behaves like +.
 */
PG_FUNCTION_INFO_V1(ar_amount_sum_accum);
Datum
ar_amount_sum_accum(PG_FUNCTION_ARGS)
{
	ArAmount   *state = PG_GETARG_AMOUNT_P(0);
	ArAmount   *value = PG_GETARG_AMOUNT_P(1);
	int64		r;

	ArCheckSameCurrency(state, value);
	if (unlikely(pg_add_s64_overflow(state->units, value->units, &r)))
		report_overflow(psprintf("sum() passed %s + %s", ArAmountToCString(state),
								 ArAmountToCString(value)));
	if (AggCheckCallContext(fcinfo, NULL))
	{
		state->units = r;
		PG_RETURN_AMOUNT_P(state);
	}
	PG_RETURN_AMOUNT_P(ArAmountMake(r, state->currency));
}
