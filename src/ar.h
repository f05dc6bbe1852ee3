/*-------------------------------------------------------------------------
 *
 * ar.h
 *	  Shared declarations of ar: the amount type and the currency table.
 *
 * src/ar.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef AR_H
#define AR_H

#include "postgres.h"

#include "access/attnum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

/*
 * ar.amount: an exact amount of money.  A signed 64-bit count of the
 * currency's minor units plus the ISO 4217 alphabetic code packed into 32
 * bits (three upper-case ASCII letters, 'S'<<16 | 'E'<<8 | 'K').  Fixed
 * length, 16 bytes, passed by reference, double-aligned.  No floating point
 * is ever involved.
 */
typedef struct ArAmount
{
	int64		units;			/* minor units: öre, cents, fils, ... */
	uint32		currency;		/* packed alphabetic code */
	int32		reserved;		/* always zero */
} ArAmount;

#define DatumGetArAmountP(X)	((ArAmount *) DatumGetPointer(X))
#define ArAmountPGetDatum(X)	PointerGetDatum(X)
#define PG_GETARG_AMOUNT_P(n)	DatumGetArAmountP(PG_GETARG_DATUM(n))
#define PG_RETURN_AMOUNT_P(x)	return ArAmountPGetDatum(x)

/* One row of the ISO 4217 table (currency.c). */
typedef struct ArCurrency
{
	const char *code;			/* "SEK" */
	int16		numeric_code;	/* 752 */
	int16		minor_unit;		/* 2; -1 where ISO says N.A. */
	const char *name;			/* "Swedish Krona" */
} ArCurrency;

/* The largest minor unit ISO 4217 uses (CLF, UYW). */
#define AR_MAX_MINOR_UNIT 4

/* currency.c */
extern void ArCurrencyInit(void);
extern const ArCurrency *ArCurrencyLookup(uint32 packed);
extern uint32 ArCurrencyPack(const char *code, int len);
extern void ArCurrencyUnpack(uint32 packed, char *buf);
extern uint32 ArCurrencyParse(const char *code);
extern int	ArMinorUnit(uint32 packed);
extern const int64 ArPow10[];

/* amount.c */
extern ArAmount *ArAmountMake(int64 units, uint32 currency);
extern Datum ArUnitsToNumeric(int64 units, int scale);
extern int64 ArNumericToUnits(Datum num, uint32 currency, bool round);
extern char *ArAmountToCString(const ArAmount *a);
extern int64 ArNumericToInt64(Datum num, bool *overflow);
extern bool ArDecimalDigitsToUnits(const char *int_digits, int int_len, const char *frac_digits,
								   int frac_len, int minor_unit, bool negative, int64 *result);

/* refs.c */
extern bool ArIbanValid(const char *iban);
extern bool ArAllDigits(const char *s);
/*
 * refs.c: another written form of a reference (a Finnish one in RF or
 * padded to 20 digits), rewritten in place into the form ar gives it; ref
 * has room for MAX_REFERENCE_LEN + 1 bytes.
 */
#define MAX_REFERENCE_LEN 35
extern bool ArReferenceNormal(const char *scheme, char *ref);

/* camt.c, bgmax.c: the columns of ar.bank_transaction, in order */
enum
{
	BT_SEQ,
	BT_SOURCE,
	BT_FORMAT,
	BT_MESSAGE_ID,
	BT_STATEMENT_ID,
	BT_ACCOUNT,
	BT_LOCATION,
	BT_ENTRY_STATUS,
	BT_KIND,
	BT_BANK_REF,
	BT_BOOKING_DATE,
	BT_VALUE_DATE,
	BT_AMOUNT,
	BT_REFERENCE,
	BT_REFERENCE_CODE,
	BT_REMITTANCE,
	BT_PAYER_NAME,
	BT_PAYER_ACCOUNT,
	BT_PAYER_ADDRESS,
	BT_PAYER_ORG_NO,
	BT_END_TO_END_ID,
	BT_TRANSACTION_CODE,
	BT_RETURN_REASON,
	BT_EXTRA_REFERENCES,
	BT_EXTRA_AMOUNTS,
	BT_EXTRA_CODES,
	BT_REF_ORIGIN,
	BT_NATTS
};

/* camt.c: the extra-reference array columns (also bgmax.c) */
extern void ArPutBankExtras(Datum *values, int n, Datum *refs, Datum *amounts, bool *amount_nulls,
							Datum *codes, bool *code_nulls, Oid amount_type);

/* camt.c: "#2", "#3", ... for repeated bank_refs of one file (also bgmax.c) */
extern void ArDedupeBankRefs(List *rows, size_t ref_offset, size_t seq_offset);

/* match.c: defines the ar.match_* settings */
extern void ArMatchInit(void);

/* worker.c */
extern void ArWorkerInit(void);
extern Oid	ArJobRole(void);

/* ar.c: an SPI plan prepared once per backend and kept in *cache */
extern SPIPlanPtr ArKeepPlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *types);
/* ar.c: run it (SPI connected) with a snapshot taken now */
extern int	ArExecuteLatest(SPIPlanPtr plan, Datum *args, bool read_only);
/* ar.c: ar's own relations and columns by name; an error if missing */
extern Oid	ArRelid(Oid nsp, const char *name);
extern AttrNumber ArAttnum(Oid relid, const char *name);

/* restore.c */
extern bool ArRestoring(Oid role);

/* guard.c: is one of ar's internal writers running? */
extern bool ArInternal(void);
extern void ArInternalEnter(void);
extern void ArInternalLeave(void);

/* amount_ops.c */
extern void ArReportCurrencyMismatch(const ArAmount *a, const ArAmount *b) pg_attribute_noreturn();

/* Raise an error naming both currencies unless they are one. */
static inline void
ArCheckSameCurrency(const ArAmount *a, const ArAmount *b)
{
	if (unlikely(a->currency != b->currency))
		ArReportCurrencyMismatch(a, b);
}

/*
 * Does the UTF-8 text at c start with U+FFFE or U+FFFF, characters XML 1.0
 * cannot carry?  (Safe at the end of a string: a NUL stops the compare.)
 */
static inline bool
ArUtf8Noncharacter(const unsigned char *c)
{
	return c[0] == 0xef && c[1] == 0xbf && (c[2] == 0xbe || c[2] == 0xbf);
}

#endif							/* AR_H */
