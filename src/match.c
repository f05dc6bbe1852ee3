/*-------------------------------------------------------------------------
 *
 * match.c
 *	  ar.match_payments: set-based matching of incoming payments to open
 *	  invoices, and the settings it reads.
 *
 * One run loads the open invoices of the entity (or of all entities) into
 * memory, with hash indexes by payment reference, by invoice number and by
 * customer, plus the learned payer accounts (ar.payer_account).  It then
 * streams the unmatched payments through a cursor in id order, decides each
 * payment in C, and writes every batch of decisions with a handful of
 * set-based statements: payments, invoices, allocations, suggestions and
 * newly learned payer accounts, each one INSERT or UPDATE over unnest() of
 * arrays.  Memory holds the invoice side only; the payment side is bounded
 * by the batch size.
 *
 * The rules, in order (docs/matching.md explains them for users):
 *	 a. reference     the structured reference, with a valid check digit
 *					  for the entity's scheme, is an open invoice's payment
 *					  reference;
 *	 b. text          an invoice number or payment reference found in the
 *					  free text (and in a reference field that is not a
 *					  valid reference);
 *	 c. payer_amount  a known payer account and an amount equal to exactly
 *					  one open invoice of its customers;
 *	 d. payer_sum     a known payer account and an amount equal to the sum
 *					  of exactly one set of 2..ar.match_sum_max_parts open
 *					  invoices of one customer (bounded search);
 *	 e. partial / overpayment   a referenced invoice (a or b) paid with
 *					  less or more than its open amount; a shortfall up to
 *					  ar.match_tolerance is written off.
 * Whatever is not certain becomes scored rows of ar.match_suggestion: a
 * fuzzy payer-name match, a reference with a wrong check digit that would
 * name an open invoice with the right one, several candidates, or evidence
 * that disagrees.  A payment only ever matches invoices of its own entity
 * and currency.
 *
 * Order independence: a first pass over the unmatched payments counts, per
 * invoice, the payments that name it by reference or in strong free text
 * ("claims").  The amount rules (c, d) leave invoices alone that a payment
 * still to come names, or one that was left to a person (suggestions only),
 * so a payment that names its invoice keeps it however the payments are
 * ordered.
 *
 * Concurrency: the run takes SHARE ROW EXCLUSIVE on ar.allocation (one run
 * at a time; ar.allocate and ar.unallocate wait for it) and updates every
 * payment and invoice only if it still is as it was read; anything else
 * (a direct update of an invoice meanwhile) is a serialization failure.
 * Lock order: payments, then invoices, as in ar.allocate.
 *
 * src/match.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <stdlib.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "ar.h"

/* refs.c: ar.reference_valid(scheme text, ref text) */
extern PGDLLEXPORT Datum ar_reference_valid(PG_FUNCTION_ARGS);

/* Payments decided and written per batch. */
#define MATCH_BATCH 10000

/* At most this many suggestions per payment, the best first. */
#define MAX_SUGGESTIONS 10

/* Free text: tokens looked at, and how long a strong token is. */
#define MAX_TOKENS 64
#define MAX_TOKEN_LEN 64
#define STRONG_TOKEN_LEN 6
#define STRONG_JOINED_LEN 8
#define MAX_JOINED_TOKENS 6
/* keys of text naming no open invoice, kept with what they name, per run */
#define MAX_TEXT_KEYS 200000

/* Fuzzy names: skip name words this common; bound the candidates. */
#define NAME_WORD_MAX_CUSTOMERS 200
#define NAME_MAX_CANDIDATES 500
#define NAME_MIN_SIMILARITY 0.5
#define MAX_TRIGRAMS 256

/* References of one payment weighed together (rule a with several). */
#define MAX_REFERENCES 16

/* Invoices one payment claims: its references', then its text's. */
#define MAX_CLAIMS (MAX_REFERENCES + 16)

/* Bounded subset search of rule d: nodes visited per payment. */
#define SUBSET_NODE_BUDGET 200000

/* ------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------ */

/* ar.match_tolerance, parsed: the largest shortfall written off, per currency */
typedef struct ToleranceSet
{
	int			n;
	struct
	{
		uint32		currency;
		int64		units;
	}			items[FLEXIBLE_ARRAY_MEMBER];
} ToleranceSet;

static char *match_tolerance_text = NULL;
static ToleranceSet *match_tolerance = NULL;
static int	match_sum_max_invoices = 20;
static int	match_sum_max_parts = 4;

/*
 * Parse one amount "<decimal> <CODE>" or "<CODE> <decimal>" without raising
 * errors (a GUC check hook must not); false with *why set on bad input.
 */
static bool
parse_tolerance_item(const char *s, int len, uint32 *currency, int64 *units,
					 const char **why)
{
	const char *p = s;
	const char *end = s + len;
	const char *code = NULL;
	const char *num = NULL;
	int			numlen = 0;
	const ArCurrency *cur;
	int64		v = 0;
	int			frac = 0;
	bool		seen_dot = false;
	bool		any_digit = false;

	while (p < end)
	{
		const char *w;

		while (p < end && isspace((unsigned char) *p))
			p++;
		if (p >= end)
			break;
		w = p;
		while (p < end && !isspace((unsigned char) *p))
			p++;
		if (isalpha((unsigned char) *w))
		{
			if (code != NULL)
			{
				*why = "Each item is one amount with one currency code.";
				return false;
			}
			if (p - w != 3)
			{
				*why = "A currency is a three-letter ISO 4217 code.";
				return false;
			}
			code = w;
		}
		else
		{
			if (num != NULL)
			{
				*why = "Each item is one amount with one currency code.";
				return false;
			}
			num = w;
			numlen = p - w;
		}
	}
	if (code == NULL || num == NULL)
	{
		*why = "Each item needs an amount and a currency code, such as \"1.00 SEK\".";
		return false;
	}
	*currency = ArCurrencyPack(code, 3);
	cur = ArCurrencyLookup(*currency);
	if (cur == NULL || cur->minor_unit < 0)
	{
		*why = "Unknown currency code, or a currency without a minor unit.";
		return false;
	}
	p = num;
	if (*p == '+')
		p++;
	for (; p < num + numlen; p++)
	{
		if (*p == '.' && !seen_dot)
		{
			seen_dot = true;
			continue;
		}
		if (!isdigit((unsigned char) *p))
		{
			*why = "The amount is a plain non-negative decimal number such as 0.50.";
			return false;
		}
		any_digit = true;
		if (seen_dot && ++frac > cur->minor_unit)
		{
			*why = "The amount has more fraction digits than its currency.";
			return false;
		}
		if (pg_mul_s64_overflow(v, 10, &v) || pg_add_s64_overflow(v, *p - '0', &v))
		{
			*why = "The amount is out of range.";
			return false;
		}
	}
	if (!any_digit)
	{
		*why = "The amount is a plain non-negative decimal number such as 0.50.";
		return false;
	}
	for (; frac < cur->minor_unit; frac++)
		if (pg_mul_s64_overflow(v, 10, &v))
		{
			*why = "The amount is out of range.";
			return false;
		}
	*units = v;
	return true;
}

static bool
check_match_tolerance(char **newval, void **extra, GucSource source)
{
	const char *s = *newval ? *newval : "";
	int			max_items = 1;
	ToleranceSet *set;
	const char *p;
	bool		blank = true;

	(void) source;
	for (p = s; *p; p++)
	{
		if (*p == ',')
			max_items++;
		if (!isspace((unsigned char) *p))
			blank = false;
	}
	set = (ToleranceSet *) malloc(offsetof(ToleranceSet, items) +
								  sizeof(set->items[0]) * max_items);
	if (set == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	set->n = 0;
	for (p = s; !blank;)
	{
		const char *item = p;
		const char *why = NULL;
		uint32		currency;
		int64		units;
		int			len;

		while (*p && *p != ',')
			p++;
		len = p - item;
		if (!parse_tolerance_item(item, len, &currency, &units, &why))
		{
			GUC_check_errdetail("Bad item \"%.*s\": %s", len, item, why);
			free(set);
			return false;
		}
		for (int k = 0; k < set->n; k++)
			if (set->items[k].currency == currency)
			{
				char		code[4];

				ArCurrencyUnpack(currency, code);
				GUC_check_errdetail("Currency %s is listed twice.", code);
				free(set);
				return false;
			}
		set->items[set->n].currency = currency;
		set->items[set->n].units = units;
		set->n++;
		if (*p == '\0')
			break;
		p++;
	}
	*extra = set;
	return true;
}

static void
assign_match_tolerance(const char *newval, void *extra)
{
	(void) newval;
	match_tolerance = (ToleranceSet *) extra;
}

/* The tolerance of a currency in minor units; 0 where none is set. */
static int64
tolerance_of(uint32 currency)
{
	if (match_tolerance == NULL)
		return 0;
	for (int k = 0; k < match_tolerance->n; k++)
		if (match_tolerance->items[k].currency == currency)
			return match_tolerance->items[k].units;
	return 0;
}

/* Called from _PG_init: the ar.match_* settings. */
void
ArMatchInit(void)
{
	DefineCustomStringVariable("ar.match_tolerance",
							   "Largest shortfall ar.match_payments writes off, per currency.",
							   "A comma-separated list of amounts such as '1.00 SEK, 0.10 EUR'. "
							   "Empty (the default): nothing is written off. Set by ar_admin members and superusers.",
							   &match_tolerance_text,
							   "",
							   PGC_SUSET,
							   0,
							   check_match_tolerance, assign_match_tolerance, NULL);
	DefineCustomIntVariable("ar.match_sum_max_invoices",
							"Rule payer_sum looks at customers with at most this many open invoices.",
							"0 turns the rule off.",
							&match_sum_max_invoices,
							20, 0, 64,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ar.match_sum_max_parts",
							"Rule payer_sum tries sets of 2 up to this many invoices.",
							NULL,
							&match_sum_max_parts,
							4, 2, 10,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * Rules, outcomes, confidences
 * ------------------------------------------------------------------------ */

typedef enum MatchRule
{
	RULE_REFERENCE,
	RULE_TEXT,
	RULE_PAYER_AMOUNT,
	RULE_PAYER_SUM,
	RULE_PARTIAL,
	RULE_OVERPAYMENT,
	RULE_WRITE_OFF,
	RULE_CHECK_DIGIT,			/* suggestions only */
	RULE_PAYER_NAME				/* suggestions only */
} MatchRule;

static const char *const rule_names[] = {
	"reference", "text", "payer_amount", "payer_sum", "partial", "overpayment",
	"write_off", "reference_check_digit", "payer_name"
};

/* The rows ar.match_payments returns, in this order. */
typedef enum Outcome
{
	OUT_REFERENCE,
	OUT_TEXT,
	OUT_PAYER_AMOUNT,
	OUT_PAYER_SUM,
	OUT_PARTIAL,
	OUT_OVERPAYMENT,
	OUT_WRITE_OFF,				/* also counted under its rule */
	OUT_SUGGESTED,
	OUT_UNMATCHED,
	N_OUTCOMES
} Outcome;

static const char *const outcome_names[] = {
	"reference", "text", "payer_amount", "payer_sum", "partial", "overpayment",
	"write_off", "suggested", "unmatched"
};

/* Confidences of applied matches and scores of suggestions, in hundredths. */
#define CONF_REFERENCE		100
#define CONF_TEXT_STRONG	95
#define CONF_TEXT_WEAK		90
#define CONF_TEXT_SUM		90
#define CONF_PAYER_AMOUNT	90
#define CONF_PAYER_SUM		80
#define SCORE_REFERENCE_DISPUTED 80	/* a valid reference, the text names another */
#define SCORE_PAYER_AMOUNT_ONE	70	/* the one candidate, but evidence disagrees */
#define SCORE_CHECK_DIGIT	60
#define SCORE_TEXT_ONE		60
#define SCORE_TEXT_MANY		50
#define SCORE_PAYER_AMOUNT_MANY 50
#define SCORE_PAYER_SUM		40
#define SCORE_NAME_MAX		50	/* times the name similarity */

/* ------------------------------------------------------------------------
 * Memory: a string arena and an open-addressing hash index
 * ------------------------------------------------------------------------ */

typedef struct Arena
{
	char	   *data;
	Size		len;
	Size		cap;
} Arena;

/* Copy len bytes (plus a NUL) into the arena; returns the offset (never 0). */
static uint32
arena_add(Arena *a, const char *s, int len)
{
	if (a->len + len + 1 > a->cap)
	{
		Size		cap = Max(a->cap * 2, a->len + len + 1 + 4096);

		if (cap > PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many open invoices to match in one run"),
					 errhint("Match one entity at a time: ar.match_payments(entity_id).")));
		a->data = a->data ? repalloc_huge(a->data, cap) :
			MemoryContextAllocHuge(CurrentMemoryContext, cap);
		a->cap = cap;
	}
	memcpy(a->data + a->len, s, len);
	a->data[a->len + len] = '\0';
	a->len += len + 1;
	return (uint32) (a->len - len - 1);
}

#define ARENA_STR(a, off) ((a)->data + (off))

typedef struct HIndex
{
	uint32		mask;			/* capacity - 1, capacity a power of 2 */
	uint32		count;
	uint32	   *hashes;
	int32	   *items;			/* -1: empty slot */
} HIndex;

static void
hindex_alloc(HIndex *h, uint32 cap)
{
	h->mask = cap - 1;
	h->count = 0;
	h->hashes = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * (Size) cap);
	h->items = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (Size) cap);
	memset(h->items, 0xff, sizeof(int32) * (Size) cap);
}

static void
hindex_init(HIndex *h, uint32 expected)
{
	uint32		cap = 64;

	while (cap < expected * 2 && cap < (1U << 31))
		cap <<= 1;
	hindex_alloc(h, cap);
}

static void hindex_add(HIndex *h, uint32 hash, int32 item);

static void
hindex_grow(HIndex *h)
{
	HIndex		old = *h;

	if (old.mask >= (1U << 30))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows to match in one run"),
				 errhint("Match one entity at a time: ar.match_payments(entity_id).")));
	hindex_alloc(h, (old.mask + 1) * 2);
	for (uint32 s = 0; s <= old.mask; s++)
		if (old.items[s] >= 0)
			hindex_add(h, old.hashes[s], old.items[s]);
	pfree(old.hashes);
	pfree(old.items);
}

static void
hindex_add(HIndex *h, uint32 hash, int32 item)
{
	uint32		slot;

	if ((h->count + 1) * 2 > h->mask + 1)
		hindex_grow(h);
	slot = hash & h->mask;
	while (h->items[slot] >= 0)
		slot = (slot + 1) & h->mask;
	h->hashes[slot] = hash;
	h->items[slot] = item;
	h->count++;
}

/*
 * The next item stored with this hash (the caller compares the key), or -1.
 * *pos starts at PG_UINT32_MAX.
 */
static inline int32
hindex_next(const HIndex *h, uint32 hash, uint32 *pos)
{
	uint32		slot = (*pos == PG_UINT32_MAX) ? (hash & h->mask) : ((*pos + 1) & h->mask);

	for (;;)
	{
		int32		item = h->items[slot];

		if (item < 0)
			return -1;
		if (h->hashes[slot] == hash)
		{
			*pos = slot;
			return item;
		}
		slot = (slot + 1) & h->mask;
	}
}

static inline uint32
key_hash(int32 entity, const char *s, int len)
{
	return hash_combine(hash_bytes_uint32((uint32) entity),
						hash_bytes((const unsigned char *) s, len));
}

/* Growable array helper: make room for one more element. */
#define ENSURE_ROOM(arr, n, cap, type) \
	do { \
		if ((n) >= (cap)) \
		{ \
			(cap) = (cap) ? (cap) * 2 : 256; \
			(arr) = (arr) ? (type *) repalloc_huge((arr), sizeof(type) * (Size) (cap)) \
				: (type *) MemoryContextAllocHuge(CurrentMemoryContext, sizeof(type) * (Size) (cap)); \
		} \
	} while (0)

/* ------------------------------------------------------------------------
 * The matcher's state
 * ------------------------------------------------------------------------ */

typedef struct MEntity
{
	int32		id;
	Datum		scheme;			/* text: reference scheme */
	char	   *scheme_name;	/* the same as a C string */
} MEntity;

typedef struct MInv
{
	int64		id;
	int64		rem;			/* open amount in minor units, as decided so far */
	int32		entity;
	uint32		currency;
	int32		cust;			/* index into customers */
	int32		next;			/* next open invoice of the same customer, -1 */
	uint32		ref;			/* arena offsets, 0: none */
	uint32		number;
	uint32		touched;		/* batch that last changed rem */
	uint16		claims;			/* payments still to come that name it */
	bool		was_partial;	/* status partially_paid as last written (when
								 * loaded, or by an earlier batch), else issued */
} MInv;

typedef struct MCust
{
	int64		id;
	int32		entity;
	int32		first;			/* first open invoice, -1 */
	uint32		name;			/* normalized name (arena), 0 before loading */
} MCust;

typedef struct MPayer
{
	int32		entity;
	uint32		account;		/* normalized account (arena) */
	int64		customer_id;
} MPayer;

typedef struct NameWord
{
	uint32		word;			/* arena offset */
	int32		head;			/* first posting */
	int32		n;
} NameWord;

typedef struct Posting
{
	int32		cust;
	int32		next;
} Posting;

/* A reference of a payment beyond its first (ar.payment_extra_ref). */
typedef struct MExtra
{
	const char *ref;
	int64		amount;			/* BgMax TK22/TK23 amount, negative for TK23 */
	bool		has_amount;		/* camt gives none */
} MExtra;

/* The payment being decided. */
typedef struct MPay
{
	int64		id;
	int32		entity;
	uint32		currency;
	int64		amount;
	const char *ref;			/* raw text, may be NULL */
	char		refn[MAX_TOKEN_LEN];	/* compacted, upper case, normal form */
	char	   *ref_raw;		/* compacted, when the normal form differs */
	int			rl;				/* its length; 0: none, or too long */
	bool		valid;			/* a valid reference of the entity's scheme */
	const char *text;
	const char *account;		/* normalized, NULL when none */
	const char *name;
	bool		was_suggested;
	bool		names_closed;	/* its text names an invoice that is not open */
	bool		names_closed_weak;	/* ... by a number of digits only */
	MEntity    *ent;
	MExtra	   *extra;			/* its further references, in order */
	int			nextra;
} MPay;

/* Outputs of a batch */
typedef struct AllocOut
{
	int64		payment_id;		/* for a write-off: the payment whose shortfall it is */
	int64		invoice_id;
	int64		amount;
	uint32		currency;
	int8		rule;
	int16		conf;
} AllocOut;

typedef struct PayOut
{
	int64		id;
	int64		amount;			/* unallocated when read: all of it (an amount does
								 * not change) */
	int64		unallocated;
	const char *status;
	const char *old_status;
} PayOut;

typedef struct SuggOut
{
	int64		payment_id;
	int64		invoice_id;
	int16		score;
	int8		rule;
} SuggOut;

typedef struct LearnOut
{
	int32		entity;
	const char *account;
	int64		customer_id;
	int64		payment_id;
	int8		rule;
} LearnOut;

typedef struct Touched
{
	int32		inv;
	int64		start_rem;
} Touched;

typedef struct Hit
{
	int32		inv;
	bool		strong;
} Hit;

typedef struct Cand
{
	int32		inv;
	int16		score;
	int8		rule;
} Cand;

/*
 * A key of payment text that names no open invoice but is long enough to
 * be strong: looked up once per run among all invoices (the paid, the
 * credited, credit notes), since text that names one of them is evidence
 * against any other match.
 */
typedef enum KeyState
{
	KEY_PENDING,
	KEY_NONE,					/* names no invoice */
	KEY_CLOSED					/* names an invoice that is not open */
} KeyState;

typedef struct TextKey
{
	int32		entity;
	uint32		written;		/* closed_str: as written (the cache key) */
	uint32		key;			/* closed_str: upper case */
	bool		as_number;
	bool		as_ref;
	bool		weak;			/* a number of digits only: evidence against c, d */
	int8		state;			/* KeyState */
} TextKey;

typedef struct KeyUse
{
	MPay	   *pay;			/* a payment of the batch */
	int32		key;
} KeyUse;

typedef struct Matcher
{
	MemoryContext cxt;
	MemoryContext batch_cxt;
	bool		one_entity;
	int32		entity_id;

	MEntity    *entities;
	int			nentities;

	Arena		str;

	MInv	   *inv;
	int32		ninv;
	int32		capinv;
	HIndex		by_ref;
	HIndex		by_number;

	MCust	   *cust;
	int32		ncust;
	int32		capcust;
	HIndex		cust_by_id;

	MPayer	   *payer;
	int32		npayer;
	int32		cappayer;
	HIndex		payer_by_key;

	bool		names_loaded;
	NameWord   *words;
	int32		nwords;
	int32		capwords;
	Posting    *posts;
	int32		nposts;
	int32		capposts;
	HIndex		word_by_str;

	/* keys of text that name no open invoice (closed_cxt, reset when large) */
	MemoryContext closed_cxt;
	Arena		closed_str;
	TextKey    *keys;
	int32		nkeys,
				capkeys;
	HIndex		key_by_str;
	KeyUse	   *uses;			/* the current batch's (batch_cxt) */
	int			nuses,
				capuses;
	MPay	   *cur_pay;		/* collecting keys of this payment, or NULL */

	bool		suggestions_exist;
	bool		extras_exist;	/* ar.payment_extra_ref has rows */
	uint32		batch_no;
	int64		counts[N_OUTCOMES];

	/* the current batch */
	AllocOut   *allocs;
	int			nallocs,
				capallocs;
	PayOut	   *pays;
	int			npays,
				cappays;
	SuggOut    *suggs;
	int			nsuggs,
				capsuggs;
	LearnOut   *learns;
	int			nlearns,
				caplearns;
	Touched    *touched;
	int			ntouched,
				captouched;
	int64	   *resuggest;		/* payments whose old suggestions go */
	int			nresuggest,
				capresuggest;

	/* the current payment */
	Cand		cands[64];
	int			ncands;

	/* statistics for DEBUG1 */
	double		ms_load;
	double		ms_claims;
	double		ms_decide;
	double		ms_write;
	double		ms_payments;	/* parts of ms_write */
	double		ms_invoices;
	double		ms_allocations;
	int64		npayments;
	int64		last_payment;	/* the highest id decided so far */
} Matcher;

/* ------------------------------------------------------------------------
 * Normalization
 * ------------------------------------------------------------------------ */

/* s without blanks, upper-cased, into buf (cap bytes); length, -1 if too long */
static int
compact_upper(const char *s, char *buf, int cap)
{
	int			n = 0;

	for (; *s; s++)
	{
		if (isspace((unsigned char) *s))
			continue;
		if (n >= cap - 1)
			return -1;
		buf[n++] = (char) pg_toupper((unsigned char) *s);
	}
	buf[n] = '\0';
	return n;
}

/*
 * A customer or payer name for comparison: lower-case ASCII letters and
 * digits, Latin-1 letters folded (ö → o, æ → ae), other characters
 * separate words, one-letter words and legal forms (AB, AS, Oy, ApS, Ltd,
 * GmbH, ...) dropped.  Returns the length written into out.
 */
static int
normalize_name(const char *s, char *out, int cap)
{
	static const char *const forms[] = {
		"ab", "publ", "as", "asa", "oy", "oyj", "aps", "ltd", "limited", "gmbh",
		"inc", "hb", "kb", "bv", "llc", "plc", "sa", "ag", "ky", "ek", "co", "ou",
		"nuf", "ans", "da", "is", "ivs", "amba", "ehf", "hf", NULL
	};
	/* Latin-1 supplement U+00C0..U+00FF */
	static const char *const latin1[64] = {
		"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
		"d", "n", "o", "o", "o", "o", "o", " ", "o", "u", "u", "u", "u", "y", "th", "ss",
		"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
		"d", "n", "o", "o", "o", "o", "o", " ", "o", "u", "u", "u", "u", "y", "th", "y"
	};
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	char		word[MAX_TOKEN_LEN];
	int			wn = 0;
	int			n = 0;
	const unsigned char *p = (const unsigned char *) s;

	for (;;)
	{
		const char *add = NULL;
		char		one[2] = {0, 0};

		if (*p == 0)
			add = " ";
		else if (isalnum(*p) && *p < 0x80)
		{
			one[0] = (char) pg_ascii_tolower(*p);
			add = one;
		}
		else if (utf8 && *p == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF)
		{
			add = latin1[p[1] - 0x80];
			p++;
		}
		else
		{
			add = " ";
			if (utf8 && *p >= 0xC0)
				while ((p[1] & 0xC0) == 0x80)
					p++;
		}
		for (; *add; add++)
		{
			if (*add != ' ')
			{
				if (wn < MAX_TOKEN_LEN - 1)
					word[wn++] = *add;
				continue;
			}
			if (wn > 1)
			{
				bool		form = false;

				word[wn] = '\0';
				for (int k = 0; forms[k]; k++)
					if (strcmp(word, forms[k]) == 0)
						form = true;
				if (!form && n + wn + 1 < cap)
				{
					if (n > 0)
						out[n++] = ' ';
					memcpy(out + n, word, wn);
					n += wn;
				}
			}
			wn = 0;
		}
		if (*p == 0)
			break;
		p++;
	}
	out[n] = '\0';
	return n;
}

static int
cmp_uint32(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The sorted, distinct trigrams of a normalized name (words padded as pg_trgm does). */
static int
trigrams(const char *s, uint32 *out)
{
	int			n = 0;
	const char *p = s;

	while (*p)
	{
		char		w[MAX_TOKEN_LEN + 3];
		int			len = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		w[len++] = ' ';
		w[len++] = ' ';
		while (*p && *p != ' ' && len < MAX_TOKEN_LEN + 1)
			w[len++] = *p++;
		while (*p && *p != ' ')
			p++;
		w[len++] = ' ';
		for (int k = 0; k + 3 <= len && n < MAX_TRIGRAMS; k++)
			out[n++] = ((uint32) (unsigned char) w[k] << 16) |
				((uint32) (unsigned char) w[k + 1] << 8) | (uint32) (unsigned char) w[k + 2];
	}
	qsort(out, n, sizeof(uint32), cmp_uint32);
	{
		int			m = 0;

		for (int k = 0; k < n; k++)
			if (m == 0 || out[m - 1] != out[k])
				out[m++] = out[k];
		n = m;
	}
	return n;
}

static double
trigram_similarity(const uint32 *a, int na, const uint32 *b, int nb)
{
	int			i = 0,
				j = 0,
				common = 0;

	if (na == 0 || nb == 0)
		return 0.0;
	while (i < na && j < nb)
	{
		if (a[i] == b[j])
		{
			common++;
			i++;
			j++;
		}
		else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	return (double) common / (double) (na + nb - common);
}

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------ */

static MEntity *
entity_of(Matcher *m, int32 id)
{
	int			lo = 0,
				hi = m->nentities - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (m->entities[mid].id == id)
			return &m->entities[mid];
		if (m->entities[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Open invoices of the entity whose reference (or number) is key; appends to out. */
static int
lookup_key(Matcher *m, HIndex *h, bool by_ref, int32 entity, const char *key, int len,
		   int32 *out, int max)
{
	uint32		hash = key_hash(entity, key, len);
	uint32		pos = PG_UINT32_MAX;
	int32		x;
	int			n = 0;

	while ((x = hindex_next(h, hash, &pos)) >= 0)
	{
		MInv	   *inv = &m->inv[x];
		uint32		off = by_ref ? inv->ref : inv->number;

		if (inv->entity == entity && strcmp(ARENA_STR(&m->str, off), key) == 0 && n < max)
			out[n++] = x;
	}
	return n;
}

static int32
cust_index(Matcher *m, int64 customer_id)
{
	uint32		hash = hash_bytes_uint32((uint32) customer_id ^ (uint32) (customer_id >> 32));
	uint32		pos = PG_UINT32_MAX;
	int32		x;

	while ((x = hindex_next(&m->cust_by_id, hash, &pos)) >= 0)
		if (m->cust[x].id == customer_id)
			return x;
	return -1;
}

static int32
cust_add(Matcher *m, int64 customer_id, int32 entity)
{
	uint32		hash = hash_bytes_uint32((uint32) customer_id ^ (uint32) (customer_id >> 32));
	int32		x;

	ENSURE_ROOM(m->cust, m->ncust, m->capcust, MCust);
	x = m->ncust++;
	m->cust[x].id = customer_id;
	m->cust[x].entity = entity;
	m->cust[x].first = -1;
	m->cust[x].name = 0;
	hindex_add(&m->cust_by_id, hash, x);
	return x;
}

/* Customers a payer account is known for (distinct); count. */
static int
payer_customers(Matcher *m, int32 entity, const char *account, int64 *out, int max)
{
	uint32		hash = key_hash(entity, account, strlen(account));
	uint32		pos = PG_UINT32_MAX;
	int32		x;
	int			n = 0;

	while ((x = hindex_next(&m->payer_by_key, hash, &pos)) >= 0)
	{
		MPayer	   *pa = &m->payer[x];
		bool		dup = false;

		if (pa->entity != entity || strcmp(ARENA_STR(&m->str, pa->account), account) != 0)
			continue;
		for (int k = 0; k < n; k++)
			if (out[k] == pa->customer_id)
				dup = true;
		if (dup)
			continue;
		if (n == max)
			return max + 1;		/* more than the caller can weigh */
		out[n++] = pa->customer_id;
	}
	return n;
}

static void
payer_add(Matcher *m, int32 entity, const char *account, int64 customer_id)
{
	MemoryContext old = MemoryContextSwitchTo(m->cxt);
	int32		x;

	ENSURE_ROOM(m->payer, m->npayer, m->cappayer, MPayer);
	x = m->npayer++;
	m->payer[x].entity = entity;
	m->payer[x].account = arena_add(&m->str, account, strlen(account));
	m->payer[x].customer_id = customer_id;
	hindex_add(&m->payer_by_key, key_hash(entity, account, strlen(account)), x);
	MemoryContextSwitchTo(old);
}

/* ------------------------------------------------------------------------
 * SPI helpers
 * ------------------------------------------------------------------------ */

static double
ms_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/* text column as a C string in the current context, NULL for NULL */
static char *
get_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int64
get_int64(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static int32
get_int32(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

static Datum
entity_param(Matcher *m, char *nulls)
{
	*nulls = m->one_entity ? ' ' : 'n';
	return Int32GetDatum(m->entity_id);
}

static Datum
int8_array(const int64 *v, const bool *isnull, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int k = 0; k < n; k++)
		d[k] = Int64GetDatum(v[k]);
	return PointerGetDatum(construct_md_array(d, (bool *) isnull, 1, dims, lbs,
											  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
int4_array(const int32 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int k = 0; k < n; k++)
		d[k] = Int32GetDatum(v[k]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
text_array(const char *const *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int k = 0; k < n; k++)
		d[k] = CStringGetTextDatum(v[k]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * SPI calls return in SPI's procedure context; these wrappers return in the
 * caller's, so that what the matcher allocates stays where it belongs.
 */

/* Run a statement with parameters; check the result code. */
static uint64
spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect)
{
	MemoryContext cur = CurrentMemoryContext;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	MemoryContextSwitchTo(cur);
	if (rc != expect)
		elog(ERROR, "ar.match_payments: statement failed (%s): %s",
			 SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* A cursor over a query with the entity as its only parameter. */
static Portal
spi_open(Matcher *m, const char *sql)
{
	MemoryContext cur = CurrentMemoryContext;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	char		nulls[1];
	Portal		portal;

	values[0] = entity_param(m, &nulls[0]);
	portal = SPI_cursor_open_with_args(NULL, sql, 1, types, values, nulls, true,
									   CURSOR_OPT_NO_SCROLL);
	MemoryContextSwitchTo(cur);
	if (portal == NULL)
		elog(ERROR, "ar.match_payments: cannot open cursor (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	return portal;
}

/* The next rows of a cursor: the table (the caller frees it), NULL at the end. */
static SPITupleTable *
spi_fetch(Portal portal, uint64 *n)
{
	MemoryContext cur = CurrentMemoryContext;

	SPI_cursor_fetch(portal, true, MATCH_BATCH);
	MemoryContextSwitchTo(cur);
	*n = SPI_processed;
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return NULL;
	}
	return SPI_tuptable;
}

/* ------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------ */

static void
load_entities(Matcher *m)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	char		nulls[1];

	values[0] = entity_param(m, &nulls[0]);
	spi_run("SELECT e.id, e.reference_scheme FROM ar.entity e "
			"WHERE $1::integer IS NULL OR e.id = $1 ORDER BY e.id",
			1, types, values, nulls, SPI_OK_SELECT);
	if (m->one_entity && SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("entity %d does not exist", m->entity_id)));
	m->nentities = (int) SPI_processed;
	m->entities = palloc(sizeof(MEntity) * Max(m->nentities, 1));
	for (int k = 0; k < m->nentities; k++)
	{
		HeapTuple	t = SPI_tuptable->vals[k];
		bool		isnull;

		m->entities[k].id = get_int32(t, SPI_tuptable->tupdesc, 1);
		m->entities[k].scheme = datumCopy(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull),
										  false, -1);
		m->entities[k].scheme_name = TextDatumGetCString(m->entities[k].scheme);
	}
	SPI_freetuptable(SPI_tuptable);
}

static void
load_invoices(Matcher *m)
{
	MemoryContext row_cxt = AllocSetContextCreate(m->cxt, "ar match rows", ALLOCSET_DEFAULT_SIZES);
	Portal		portal;
	SPITupleTable *tt;
	uint64		nrows;

	hindex_init(&m->cust_by_id, 1024);
	portal = spi_open(m,
					  "SELECT i.id, i.entity_id, i.customer_id, i.open_amount,"
					  "       i.payment_reference, i.number, i.status = 'partially_paid'"
					  "  FROM ar.invoice i"
					  " WHERE i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')"
					  "   AND ($1::integer IS NULL OR i.entity_id = $1)");
	while ((tt = spi_fetch(portal, &nrows)) != NULL)
	{
		for (uint64 r = 0; r < nrows; r++)
		{
			HeapTuple	t = tt->vals[r];
			TupleDesc	desc = tt->tupdesc;
			bool		isnull;
			Datum		amt = SPI_getbinval(t, desc, 4, &isnull);
			ArAmount   *open;
			MInv	   *inv;
			int32		c;
			char	   *s;
			char		buf[MAX_TOKEN_LEN];
			int			len;

			if (isnull || (open = DatumGetArAmountP(amt))->units <= 0)
				continue;
			ENSURE_ROOM(m->inv, m->ninv, m->capinv, MInv);
			inv = &m->inv[m->ninv];
			memset(inv, 0, sizeof(MInv));
			inv->id = get_int64(t, desc, 1);
			inv->entity = get_int32(t, desc, 2);
			inv->rem = open->units;
			inv->currency = open->currency;
			inv->was_partial = DatumGetBool(SPI_getbinval(t, desc, 7, &isnull));
			c = cust_index(m, get_int64(t, desc, 3));
			if (c < 0)
				c = cust_add(m, get_int64(t, desc, 3), inv->entity);
			inv->cust = c;
			inv->next = m->cust[c].first;
			m->cust[c].first = m->ninv;

			MemoryContextSwitchTo(row_cxt);
			s = get_text(t, desc, 5);
			if (s && (len = compact_upper(s, buf, sizeof(buf))) > 0)
			{
				MemoryContextSwitchTo(m->cxt);
				inv->ref = arena_add(&m->str, buf, len);
				MemoryContextSwitchTo(row_cxt);
			}
			s = get_text(t, desc, 6);
			MemoryContextSwitchTo(m->cxt);
			if (s && (len = compact_upper(s, buf, sizeof(buf))) > 0)
				inv->number = arena_add(&m->str, buf, len);
			MemoryContextReset(row_cxt);
			m->ninv++;
		}
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_cxt);

	/* the hash indexes, now that the count is known */
	hindex_init(&m->by_ref, m->ninv);
	hindex_init(&m->by_number, m->ninv);
	for (int32 x = 0; x < m->ninv; x++)
	{
		MInv	   *inv = &m->inv[x];

		if (inv->ref)
		{
			const char *k = ARENA_STR(&m->str, inv->ref);

			hindex_add(&m->by_ref, key_hash(inv->entity, k, strlen(k)), x);
		}
		if (inv->number)
		{
			const char *k = ARENA_STR(&m->str, inv->number);

			hindex_add(&m->by_number, key_hash(inv->entity, k, strlen(k)), x);
		}
	}
}

static void
load_payers(Matcher *m)
{
	Portal		portal;
	SPITupleTable *tt;
	uint64		nrows;

	hindex_init(&m->payer_by_key, 1024);
	portal = spi_open(m,
					  "SELECT a.entity_id, a.payer_account, a.customer_id"
					  "  FROM ar.payer_account a"
					  " WHERE $1::integer IS NULL OR a.entity_id = $1");
	while ((tt = spi_fetch(portal, &nrows)) != NULL)
	{
		for (uint64 r = 0; r < nrows; r++)
		{
			char	   *acct = get_text(tt->vals[r], tt->tupdesc, 2);

			payer_add(m, get_int32(tt->vals[r], tt->tupdesc, 1), acct,
					  get_int64(tt->vals[r], tt->tupdesc, 3));
			pfree(acct);
		}
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

/* Customer names for fuzzy suggestions: loaded the first time one is needed. */
static void
load_names(Matcher *m)
{
	MemoryContext caller = MemoryContextSwitchTo(m->cxt);
	MemoryContext row_cxt = AllocSetContextCreate(m->cxt, "ar match names", ALLOCSET_DEFAULT_SIZES);
	Portal		portal;
	SPITupleTable *tt;
	uint64		nrows;

	m->names_loaded = true;
	hindex_init(&m->word_by_str, 1024);
	portal = spi_open(m,
					  "SELECT c.id, c.name FROM ar.customer c"
					  " WHERE $1::integer IS NULL OR c.entity_id = $1");
	while ((tt = spi_fetch(portal, &nrows)) != NULL)
	{
		for (uint64 r = 0; r < nrows; r++)
		{
			int32		c = cust_index(m, get_int64(tt->vals[r], tt->tupdesc, 1));
			char	   *name;
			char		norm[256];
			int			len;
			const char *p;

			if (c < 0)
				continue;		/* no open invoices: nothing to suggest */
			MemoryContextSwitchTo(row_cxt);
			name = get_text(tt->vals[r], tt->tupdesc, 2);
			len = name ? normalize_name(name, norm, sizeof(norm)) : 0;
			MemoryContextSwitchTo(m->cxt);
			MemoryContextReset(row_cxt);
			if (len == 0)
				continue;
			m->cust[c].name = arena_add(&m->str, norm, len);
			/* index the words of three letters or more */
			p = norm;
			while (*p)
			{
				const char *w = p;
				int			wl;
				uint32		hash;
				uint32		pos = PG_UINT32_MAX;
				int32		x;

				while (*p && *p != ' ')
					p++;
				wl = p - w;
				if (*p == ' ')
					p++;
				if (wl < 3)
					continue;
				hash = key_hash(0, w, wl);
				while ((x = hindex_next(&m->word_by_str, hash, &pos)) >= 0)
				{
					const char *ws = ARENA_STR(&m->str, m->words[x].word);

					if ((int) strlen(ws) == wl && memcmp(ws, w, wl) == 0)
						break;
				}
				if (x < 0)
				{
					ENSURE_ROOM(m->words, m->nwords, m->capwords, NameWord);
					x = m->nwords++;
					m->words[x].word = arena_add(&m->str, w, wl);
					m->words[x].head = -1;
					m->words[x].n = 0;
					hindex_add(&m->word_by_str, hash, x);
				}
				if (m->words[x].head >= 0 && m->posts[m->words[x].head].cust == c)
					continue;	/* the same word twice in one name */
				ENSURE_ROOM(m->posts, m->nposts, m->capposts, Posting);
				m->posts[m->nposts].cust = c;
				m->posts[m->nposts].next = m->words[x].head;
				m->words[x].head = m->nposts++;
				m->words[x].n++;
			}
		}
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_cxt);
	MemoryContextSwitchTo(caller);
}

/* ------------------------------------------------------------------------
 * Evidence: references, free text
 * ------------------------------------------------------------------------ */

static bool
reference_valid(MEntity *ent, const char *ref)
{
	return DatumGetBool(DirectFunctionCall2(ar_reference_valid, ent->scheme,
											CStringGetTextDatum(ref)));
}

/*
 * A reference field (compacted, *len long, in a buffer of MAX_TOKEN_LEN)
 * rewritten into the form ar gives the entity's references: a Finnish
 * reference unwrapped from RF, or padded to 20 digits, without its leading
 * zeros (ArReferenceNormal).  Returns whether it was rewritten.
 */
static bool
normal_reference(MEntity *ent, char *ref, int *len)
{
	if (!ArReferenceNormal(ent->scheme_name, ref))
		return false;
	*len = strlen(ref);
	return true;
}

/* normal_reference, then whether it is a valid reference */
static bool
reference_field_valid(MEntity *ent, char *ref, int *len)
{
	(void) normal_reference(ent, ref, len);
	return reference_valid(ent, ref);
}

/*
 * A word of free text that may be a reference of the entity in another
 * form (RF around a Finnish reference, or one padded to 20 digits), in
 * that form into out; its length, or 0 when it is none.
 */
static int
text_reference_normal(Matcher *m, int32 entity, const char *tok, int len, char *out)
{
	MEntity    *ent;

	if (len > MAX_REFERENCE_LEN || !(tok[0] == '0' || (tok[0] == 'R' && tok[1] == 'F')))
		return 0;
	ent = entity_of(m, entity);
	if (ent == NULL)
		return 0;
	memcpy(out, tok, len + 1);
	return ArReferenceNormal(ent->scheme_name, out) ? (int) strlen(out) : 0;
}

/*
 * Add a hit.  *n counts the different hits; beyond max they are counted but
 * not kept, so that a caller sees *n > max and knows it holds only some.
 */
static void
add_hit(Hit *hits, int *n, int max, int32 inv, bool strong)
{
	for (int k = 0; k < Min(*n, max); k++)
		if (hits[k].inv == inv)
		{
			hits[k].strong |= strong;
			return;
		}
	if (*n < max)
	{
		hits[*n].inv = inv;
		hits[*n].strong = strong;
	}
	(*n)++;
}

/*
 * A payment's reference field that is no valid reference, with its last
 * character (the check digit) replaced: the variants that are valid
 * references, into out.  Returns how many.
 */
#define CHECK_CHARS "0123456789-"
#define N_CHECK_CHARS (sizeof(CHECK_CHARS) - 1)

static int
corrected_refs(MPay *p, char out[][MAX_TOKEN_LEN], int *lens)
{
	int			n = 0;
	int			rl = p->rl;

	if (rl <= 1 || p->valid)
		return 0;
	for (int k = 0; k < (int) N_CHECK_CHARS; k++)
	{
		char	   *ref = out[n];

		if (p->refn[rl - 1] == CHECK_CHARS[k])
			continue;
		memcpy(ref, p->refn, rl + 1);
		ref[rl - 1] = CHECK_CHARS[k];
		lens[n] = rl;
		if (reference_field_valid(p->ent, ref, &lens[n]))
			n++;
	}
	return n;
}

/*
 * Collecting (m->cur_pay set): remember a key of the payment's text that
 * names no open invoice, if it is long enough to be strong as an invoice
 * number (as_number) or is a valid reference of the entity's scheme
 * (as_ref), or is a number of digits only as long (weak: it may name a
 * closed invoice or be an order number).  written is the key as the text
 * has it.  Looked up in find_closed_names.
 */
static void
mark_closed(MPay *p, const TextKey *k)
{
	if (k->weak)
		p->names_closed_weak = true;
	else
		p->names_closed = true;
}

static void
note_key(Matcher *m, int32 entity, const char *key, const char *written, int len,
		 bool as_number, bool as_ref, bool weak)
{
	uint32		hash;
	uint32		pos = PG_UINT32_MAX;
	int32		x;
	TextKey    *k;

	if (!as_number && !as_ref)
		return;
	hash = key_hash(entity, written, len);
	while ((x = hindex_next(&m->key_by_str, hash, &pos)) >= 0)
	{
		k = &m->keys[x];
		if (k->entity == entity && k->as_number == as_number && k->as_ref == as_ref &&
			k->weak == weak && strcmp(ARENA_STR(&m->closed_str, k->written), written) == 0)
			break;
	}
	if (x < 0)
	{
		MemoryContext old = MemoryContextSwitchTo(m->closed_cxt);

		ENSURE_ROOM(m->keys, m->nkeys, m->capkeys, TextKey);
		k = &m->keys[m->nkeys];
		k->entity = entity;
		k->written = arena_add(&m->closed_str, written, len);
		k->key = arena_add(&m->closed_str, key, len);
		k->as_number = as_number;
		k->as_ref = as_ref;
		k->weak = weak;
		k->state = KEY_PENDING;
		hindex_add(&m->key_by_str, hash, m->nkeys);
		x = m->nkeys++;
		MemoryContextSwitchTo(old);
	}
	if (m->keys[x].state == KEY_CLOSED)
		mark_closed(m->cur_pay, &m->keys[x]);
	else if (m->keys[x].state == KEY_PENDING)
	{
		ENSURE_ROOM(m->uses, m->nuses, m->capuses, KeyUse);
		m->uses[m->nuses].pay = m->cur_pay;
		m->uses[m->nuses].key = x;
		m->nuses++;
	}
}

/*
 * A word (or run of words) of free text that names no invoice as it is
 * written, looked up in the form ar gives the entity's references
 * (text_reference_normal): a hit is strong when that form has at least
 * strong characters.  Collecting, one that names no open invoice is
 * remembered for find_closed_names.  Returns how many open invoices it
 * names.
 */
static int
normal_ref_hits(Matcher *m, int32 entity, const char *tok, int len, int strong,
				Hit *hits, int *n, int max)
{
	char		norm[MAX_TOKEN_LEN];
	int			nl = text_reference_normal(m, entity, tok, len, norm);
	int32		found[2];
	int			k;

	if (nl == 0)
		return 0;
	k = lookup_key(m, &m->by_ref, true, entity, norm, nl, found, lengthof(found));
	if (k == 1)
		add_hit(hits, n, max, found[0], nl >= strong);
	else if (k == 0 && m->cur_pay != NULL && nl >= strong)
		note_key(m, entity, norm, norm, nl, false, true, false);
	return k;
}

/*
 * Look a token up as an invoice number and as a payment reference.  A hit is
 * strong when the token is long enough not to be there by chance; an
 * invoice number of digits only is never strong, since customer numbers,
 * order numbers and dates look the same.  written is the token as the text
 * has it (tok is upper case).
 */
static void
token_hits(Matcher *m, int32 entity, const char *tok, const char *written, int len,
		   Hit *hits, int *n, int max)
{
	int32		found[4];
	int			kn,
				kr;
	bool		digits_only = true;

	for (int i = 0; i < len; i++)
		if (!isdigit((unsigned char) tok[i]))
			digits_only = false;
	kn = lookup_key(m, &m->by_number, false, entity, tok, len, found, lengthof(found));
	/* two open invoices with one number (differing in case only): ambiguous */
	if (kn == 1)
		add_hit(hits, n, max, found[0], len >= STRONG_TOKEN_LEN && !digits_only);
	kr = lookup_key(m, &m->by_ref, true, entity, tok, len, found, lengthof(found));
	if (kr == 1)
		add_hit(hits, n, max, found[0], len >= STRONG_TOKEN_LEN);
	if (kr == 0)
		kr = normal_ref_hits(m, entity, tok, len, STRONG_TOKEN_LEN, hits, n, max);
	if (kn == 0 && kr == 0 && m->cur_pay != NULL && len >= STRONG_TOKEN_LEN)
	{
		note_key(m, entity, tok, written, len, !digits_only,
				 reference_valid(m->cur_pay->ent, tok), false);
		if (digits_only)
			note_key(m, entity, tok, written, len, true, false, true);
	}
}

static inline bool
token_char(unsigned char c)
{
	return (c < 0x80 && isalnum(c)) || c == '-' || c == '/' || c == '_' || c == '.';
}

/*
 * Invoices of the entity named in free text: each word as an invoice number
 * or payment reference, the parts of words joined by / _ or ., and runs of
 * up to MAX_JOINED_TOKENS consecutive plain words joined (references are
 * printed in groups: "2026 0000 0014").  A hit is strong when its text is
 * long enough not to be there by chance.
 */
static void
text_hits(Matcher *m, int32 entity, const char *s, Hit *hits, int *n, int max)
{
	struct
	{
		char		s[MAX_TOKEN_LEN];
		int			len;
		bool		plain;		/* letters and digits only */
	}			toks[MAX_TOKENS];
	int			ntok = 0;
	const unsigned char *p = (const unsigned char *) s;

	if (s == NULL)
		return;
	while (*p)
	{
		const unsigned char *start;
		int			len;
		bool		plain = true;
		char		tok[MAX_TOKEN_LEN];
		char		written[MAX_TOKEN_LEN];
		int			before = *n;

		while (*p && !token_char(*p))
			p++;
		if (*p == 0)
			break;
		start = p;
		while (*p && token_char(*p))
			p++;
		/* trim punctuation at both ends */
		len = p - start;
		while (len > 0 && !isalnum(start[0]))
			start++, len--;
		while (len > 0 && !isalnum(start[len - 1]))
			len--;
		if (len <= 0 || len >= MAX_TOKEN_LEN)
			continue;
		for (int k = 0; k < len; k++)
		{
			tok[k] = (char) pg_toupper(start[k]);
			if (!isalnum(start[k]))
				plain = false;
		}
		tok[len] = '\0';
		memcpy(written, start, len);
		written[len] = '\0';

		token_hits(m, entity, tok, written, len, hits, n, max);
		if (*n == before && !plain)
		{
			/* "INV-1/INV-2": the parts */
			char		part[MAX_TOKEN_LEN];
			const char *q = tok;

			while (*q)
			{
				int			pl = 0;
				int			at;

				while (*q && (*q == '/' || *q == '_' || *q == '.'))
					q++;
				at = q - tok;
				while (*q && *q != '/' && *q != '_' && *q != '.')
					part[pl++] = *q++;
				part[pl] = '\0';
				if (pl > 0 && pl < len)
				{
					/* the part as written: the same place in written */
					char		wpart[MAX_TOKEN_LEN];

					memcpy(wpart, written + at, pl);
					wpart[pl] = '\0';
					token_hits(m, entity, part, wpart, pl, hits, n, max);
				}
			}
		}
		/* the first MAX_TOKENS words are kept for grouped references */
		if (ntok < MAX_TOKENS)
		{
			memcpy(toks[ntok].s, tok, len + 1);
			toks[ntok].len = len;
			toks[ntok].plain = plain;
			ntok++;
		}
	}

	/* grouped references */
	for (int i = 0; i < ntok; i++)
	{
		char		joined[MAX_TOKEN_LEN];
		int			jl;

		if (!toks[i].plain)
			continue;
		memcpy(joined, toks[i].s, toks[i].len);
		jl = toks[i].len;
		for (int j = i + 1; j < ntok && j < i + MAX_JOINED_TOKENS && toks[j].plain; j++)
		{
			int32		found[2];

			if (jl + toks[j].len >= MAX_TOKEN_LEN)
				break;
			memcpy(joined + jl, toks[j].s, toks[j].len);
			jl += toks[j].len;
			joined[jl] = '\0';
			switch (lookup_key(m, &m->by_ref, true, entity, joined, jl, found, lengthof(found)))
			{
				case 0:
					if (normal_ref_hits(m, entity, joined, jl, STRONG_JOINED_LEN, hits, n, max) == 0 &&
						m->cur_pay != NULL && jl >= STRONG_JOINED_LEN &&
						reference_valid(m->cur_pay->ent, joined))
						note_key(m, entity, joined, joined, jl, false, true, false);
					break;
				case 1:
					add_hit(hits, n, max, found[0], jl >= STRONG_JOINED_LEN);
					break;
			}
		}
	}
}

/*
 * The open invoices the payment's reference names: as written first (an
 * invoice issued before the entity changed its reference_scheme has it so),
 * else in the normal form.
 */
static int
reference_lookup(Matcher *m, MPay *p, int32 *found, int max)
{
	if (p->ref_raw != NULL)
	{
		int			n = lookup_key(m, &m->by_ref, true, p->entity, p->ref_raw, strlen(p->ref_raw),
								   found, max);

		if (n > 0)
			return n;
	}
	return lookup_key(m, &m->by_ref, true, p->entity, p->refn, p->rl, found, max);
}

/*
 * The invoices a payment's free text names, and its reference field's when
 * that is not a valid reference.  Returns how many are kept in hits (at
 * most max); *all is false when the text names more.
 */
static int
payment_hits(Matcher *m, MPay *p, Hit *hits, int max, bool *all)
{
	int			nh = 0;

	text_hits(m, p->entity, p->text, hits, &nh, max);
	if (p->ref != NULL && !p->valid)
		text_hits(m, p->entity, p->ref, hits, &nh, max);
	*all = nh <= max;
	return Min(nh, max);
}

/* may invoice x take a payment of this currency at all */
static inline bool
payable(const Matcher *m, const MPay *p, int32 x)
{
	return m->inv[x].currency == p->currency && m->inv[x].rem > 0;
}

/*
 * The open invoice one reference of a payment names: by payment reference
 * when it passes the entity's check digit, else by invoice number (camt's
 * RfrdDocInf/Nb, a number in a reference field).  *weak is set for a number
 * of digits only: it could be a customer's or an order's number, or a
 * reference with a wrong check digit, so it only confirms an invoice that
 * another reference names.  -1 when it names none, several, or one that
 * cannot take the payment (closed, another currency).
 */
static int32
named_invoice(Matcher *m, MPay *p, const char *raw, bool *weak)
{
	char		buf[MAX_TOKEN_LEN];
	int			len;
	int32		found[2];
	int			n = 0;

	*weak = false;
	if (raw == NULL || (len = compact_upper(raw, buf, sizeof(buf))) <= 0)
		return -1;
	/* as written first, as for the payment's own reference */
	n = lookup_key(m, &m->by_ref, true, p->entity, buf, len, found, lengthof(found));
	if (n == 0 && reference_field_valid(p->ent, buf, &len))
		n = lookup_key(m, &m->by_ref, true, p->entity, buf, len, found, lengthof(found));
	else if (n == 0)
	{
		*weak = ArAllDigits(buf);
		n = lookup_key(m, &m->by_number, false, p->entity, buf, len, found, lengthof(found));
	}
	return n == 1 && payable(m, p, found[0]) ? found[0] : -1;
}

/* NULL, empty or blanks only */
static bool
blank(const char *s)
{
	if (s != NULL)
		for (; *s; s++)
			if (!isspace((unsigned char) *s))
				return false;
	return true;
}

/* Is an extra reference a deduction (BgMax TK23: a negative amount)? */
static inline bool
deduction(const MExtra *e)
{
	return e->has_amount && e->amount < 0;
}

/*
 * The references one reference field holds, into refs (at most max, as
 * copies in buf of bufsize bytes): the field itself when it names an open
 * invoice or is a single word, else each of its words (blank, comma or
 * semicolon separated).  A BgMax TK20 or TK22 of code 3 may list several
 * ("657866 658765 657767"), while a reference written in groups
 * ("2026 0000 011") is one.  Returns the count; *split is true for words.
 */
static int
field_references(Matcher *m, MPay *p, const char *raw, char *buf, size_t bufsize,
				 const char **refs, int max, bool *split)
{
	int			n = 0;
	size_t		used = 0;
	bool		weak;
	const char *s = raw;

	*split = false;
	if (named_invoice(m, p, raw, &weak) >= 0)
	{
		refs[0] = raw;
		return 1;
	}
	while (*s && n < max)
	{
		size_t		len;

		while (*s && (isspace((unsigned char) *s) || *s == ',' || *s == ';'))
			s++;
		len = strcspn(s, " \t\r\n\v\f,;");
		if (len == 0 || used + len + 1 > bufsize)
			break;
		memcpy(buf + used, s, len);
		buf[used + len] = '\0';
		refs[n++] = buf + used;
		used += len + 1;
		s += len;
	}
	if (n <= 1)
	{
		refs[0] = raw;
		return 1;
	}
	*split = true;
	return n;
}

/*
 * A payment with further references (ar.payment_extra_ref) names the
 * invoices of its reference and of every extra reference that is not a
 * deduction; a field that lists several references names each
 * (field_references).  Returns how many distinct invoices they name (at
 * most max, in out, with the amount the bank gives for each in given);
 * *complete is false when one of them names no open invoice that can take
 * the payment, when a number of digits only names an invoice no other
 * reference names, or when there are more than max references (only the
 * first max are read, so that what a payment claims does not depend on
 * which of its invoices other payments closed).  *amounts is true when the
 * bank gives an amount above zero for each (the payment's own reference has
 * none), no invoice is named twice and nothing is deducted.  *deducts is
 * true when there is a deduction.
 */
static int
referenced_invoices(Matcher *m, MPay *p, int32 *out, int64 *given, int max,
					bool *complete, bool *amounts, bool *deducts)
{
	int			n = 0;
	int			read = 0;
	int32	   *weak_x = palloc(sizeof(int32) * (p->nextra + 1) * MAX_REFERENCES);
	int			nweak = 0;

	*complete = true;
	*amounts = true;
	*deducts = false;
	for (int k = -1; k < p->nextra; k++)
	{
		const char *raw = k < 0 ? p->ref : p->extra[k].ref;
		char		buf[MAX_TOKEN_LEN * 4];
		const char *refs[MAX_REFERENCES];
		int			nrefs;
		bool		split;

		if (blank(raw))
			continue;			/* no reference of its own: BgMax code 0 or 3 */
		if (k >= 0 && deduction(&p->extra[k]))
		{
			*deducts = true;
			*amounts = false;	/* the amounts are not what is paid */
			continue;
		}
		nrefs = field_references(m, p, raw, buf, sizeof(buf), refs, lengthof(refs), &split);
		/* the bank's amount is for the field, not for each of its words */
		if (split || k < 0 || !p->extra[k].has_amount || p->extra[k].amount == 0)
			*amounts = false;
		for (int r = 0; r < nrefs; r++)
		{
			int32		x;
			bool		weak;
			bool		dup = false;

			if (++read > max)
			{
				*complete = false;
				continue;
			}
			if ((x = named_invoice(m, p, refs[r], &weak)) < 0)
			{
				*complete = false;
				continue;
			}
			if (weak)
			{
				weak_x[nweak++] = x;
				continue;
			}
			for (int j = 0; j < n; j++)
				if (out[j] == x)
					dup = true;
			if (dup)
			{
				*amounts = false;
				continue;
			}
			given[n] = k < 0 || split ? 0 : p->extra[k].amount;
			out[n++] = x;
		}
	}
	/* a number of digits only confirms what another reference names */
	for (int w = 0; w < nweak; w++)
	{
		bool		named = false;

		for (int j = 0; j < n; j++)
			if (out[j] == weak_x[w])
				named = true;
		if (!named)
			*complete = false;
		*amounts = false;
	}
	pfree(weak_x);
	return n;
}

/*
 * The invoices a payment names with certainty: its valid structured
 * reference, and strong hits of its free text (and of a reference field
 * that is not a valid reference).  Same entity and currency.
 */
static int
payment_claims(Matcher *m, MPay *p, int32 *out, int max)
{
	int			n = 0;
	Hit			hits[16];
	int			nh;
	bool		all;			/* claims are only what the kept hits name */

	if (p->nextra > 0)
	{
		int64		given[MAX_REFERENCES];
		bool		complete,
					amounts,
					deducts;

		n = referenced_invoices(m, p, out, given, Min(max, MAX_REFERENCES),
								&complete, &amounts, &deducts);
	}
	else if (p->valid)
	{
		int32		found[2];

		if (reference_lookup(m, p, found, lengthof(found)) == 1 &&
			m->inv[found[0]].currency == p->currency)
			out[n++] = found[0];
	}
	nh = payment_hits(m, p, hits, lengthof(hits), &all);
	for (int k = 0; k < nh && n < max; k++)
	{
		bool		dup = false;

		if (!hits[k].strong || m->inv[hits[k].inv].currency != p->currency)
			continue;
		for (int j = 0; j < n; j++)
			if (out[j] == hits[k].inv)
				dup = true;
		if (!dup)
			out[n++] = hits[k].inv;
	}
	return n;
}

/* ------------------------------------------------------------------------
 * Deciding one payment
 * ------------------------------------------------------------------------ */

/* Set an invoice's remaining open amount, remembering where the batch began. */
static void
set_rem(Matcher *m, int32 x, int64 rem)
{
	MInv	   *inv = &m->inv[x];

	if (inv->touched != m->batch_no)
	{
		ENSURE_ROOM(m->touched, m->ntouched, m->captouched, Touched);
		m->touched[m->ntouched].inv = x;
		m->touched[m->ntouched].start_rem = inv->rem;
		m->ntouched++;
		inv->touched = m->batch_no;
	}
	inv->rem = rem;
}

static void
emit_alloc(Matcher *m, MPay *p, int32 x, int64 amount, MatchRule rule, int conf)
{
	AllocOut   *a;

	ENSURE_ROOM(m->allocs, m->nallocs, m->capallocs, AllocOut);
	a = &m->allocs[m->nallocs++];
	a->payment_id = p->id;
	a->invoice_id = m->inv[x].id;
	a->amount = amount;
	a->currency = p->currency;
	a->rule = (int8) rule;
	a->conf = (int16) conf;
	set_rem(m, x, m->inv[x].rem - amount);
}

/* A payment applied to an invoice teaches its payer account. */
static void
learn(Matcher *m, MPay *p, int32 x, MatchRule rule)
{
	int64		customer_id = m->cust[m->inv[x].cust].id;
	int64		known[32];
	int			n;
	LearnOut   *l;

	if (p->account == NULL)
		return;
	/* accounts are ASCII (IBAN, BBAN, bankgiro); keep anything else out */
	for (const char *c = p->account; *c; c++)
		if (IS_HIGHBIT_SET(*c))
			return;
	/* more known customers than kept: the insert below skips a duplicate */
	n = Min(payer_customers(m, p->entity, p->account, known, lengthof(known)),
			(int) lengthof(known));
	for (int k = 0; k < n; k++)
		if (known[k] == customer_id)
			return;
	payer_add(m, p->entity, p->account, customer_id);
	ENSURE_ROOM(m->learns, m->nlearns, m->caplearns, LearnOut);
	l = &m->learns[m->nlearns++];
	l->entity = p->entity;
	l->account = p->account;
	l->customer_id = customer_id;
	l->payment_id = p->id;
	l->rule = (int8) rule;
}

/*
 * Rule a or b with rule e: the payment names invoice x.  Equal amounts
 * close it; less is a partial payment (a shortfall within the tolerance is
 * written off); more pays it and leaves the rest on the payment.
 * Returns the outcome.
 */
static Outcome
apply_named(Matcher *m, MPay *p, int32 x, MatchRule exact, int conf, bool *wrote_off)
{
	int64		rem = m->inv[x].rem;
	Outcome		out;

	if (p->amount == rem)
	{
		emit_alloc(m, p, x, p->amount, exact, conf);
		out = exact == RULE_REFERENCE ? OUT_REFERENCE : OUT_TEXT;
	}
	else if (p->amount < rem)
	{
		/* not while another payment of the run names it: it may bring the rest */
		if (rem - p->amount <= tolerance_of(p->currency) && m->inv[x].claims == 0)
		{
			emit_alloc(m, p, x, p->amount, exact, conf);
			emit_alloc(m, p, x, rem - p->amount, RULE_WRITE_OFF, conf);
			*wrote_off = true;
			out = exact == RULE_REFERENCE ? OUT_REFERENCE : OUT_TEXT;
		}
		else
		{
			emit_alloc(m, p, x, p->amount, RULE_PARTIAL, conf);
			out = OUT_PARTIAL;
		}
	}
	else
	{
		emit_alloc(m, p, x, rem, RULE_OVERPAYMENT, conf);
		out = OUT_OVERPAYMENT;
	}
	learn(m, p, x, exact);
	return out;
}

/*
 * Rule a for a payment that names several invoices by its references
 * (BgMax TK20 with TK22, camt with several Strd): with one invoice, as
 * apply_named; with more, applied when the payment is the sum of their open
 * amounts (each paid in full), or, where the bank gives an amount for each
 * reference, when those add up to the payment and none is more than its
 * invoice's open amount (each paid that much).  False when the amounts fit
 * neither: nothing is applied.
 */
static bool
apply_references(Matcher *m, MPay *p, const int32 *xs, const int64 *given, int nx,
				 bool amounts, bool *wrote_off, Outcome *out)
{
	int64		open_sum = 0;
	int64		given_sum = 0;
	bool		overflow = false;
	bool		fits = amounts;
	bool		partial = false;

	if (nx == 1)
	{
		*out = apply_named(m, p, xs[0], RULE_REFERENCE, CONF_REFERENCE, wrote_off);
		return true;
	}
	for (int j = 0; j < nx; j++)
	{
		overflow |= pg_add_s64_overflow(open_sum, m->inv[xs[j]].rem, &open_sum);
		fits &= !pg_add_s64_overflow(given_sum, given[j], &given_sum);
		fits &= given[j] <= m->inv[xs[j]].rem;
	}
	if (!overflow && open_sum == p->amount)
	{
		for (int j = 0; j < nx; j++)
		{
			emit_alloc(m, p, xs[j], m->inv[xs[j]].rem, RULE_REFERENCE, CONF_REFERENCE);
			learn(m, p, xs[j], RULE_REFERENCE);
		}
		*out = OUT_REFERENCE;
		return true;
	}
	if (!fits || given_sum != p->amount)
		return false;
	for (int j = 0; j < nx; j++)
	{
		bool		full = given[j] == m->inv[xs[j]].rem;

		emit_alloc(m, p, xs[j], given[j], full ? RULE_REFERENCE : RULE_PARTIAL, CONF_REFERENCE);
		learn(m, p, xs[j], RULE_REFERENCE);
		partial |= !full;
	}
	*out = partial ? OUT_PARTIAL : OUT_REFERENCE;
	return true;
}

static void
suggest(Matcher *m, int32 x, int score, MatchRule rule)
{
	if (score < 1)
		score = 1;
	for (int k = 0; k < m->ncands; k++)
		if (m->cands[k].inv == x)
		{
			if (score > m->cands[k].score)
			{
				m->cands[k].score = (int16) score;
				m->cands[k].rule = (int8) rule;
			}
			return;
		}
	if (m->ncands < (int) lengthof(m->cands))
	{
		m->cands[m->ncands].inv = x;
		m->cands[m->ncands].score = (int16) score;
		m->cands[m->ncands].rule = (int8) rule;
		m->ncands++;
	}
}

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Open invoices of the customer this payment could pay (currency, unclaimed). */
static int
customer_invoices(Matcher *m, MPay *p, int64 customer_id, int32 *out, int max, bool *more)
{
	int32		c = cust_index(m, customer_id);
	int			n = 0;

	if (c < 0 || m->cust[c].entity != p->entity)
		return 0;
	for (int32 x = m->cust[c].first; x >= 0; x = m->inv[x].next)
	{
		if (!payable(m, p, x) || m->inv[x].claims > 0)
			continue;
		if (n < max)
			out[n++] = x;
		else
			*more = true;
	}
	qsort(out, n, sizeof(int32), cmp_int32);
	return n;
}

/* Rule d: sets of 2..maxparts invoices whose open amounts sum to the target. */
typedef struct SubsetSearch
{
	const int64 *amt;			/* sorted descending */
	const int64 *suffix;		/* suffix[i] = sum of amt[i..] (saturated) */
	int			n;
	int			maxparts;
	int			stack[10];
	int			first[10];		/* the first solution */
	int			nfirst;
	int			second[10];		/* a second one, if any */
	int			nsecond;
	int			solutions;
	long		budget;
} SubsetSearch;

static void
subset_dfs(SubsetSearch *s, int start, int64 left, int depth)
{
	for (int i = start; i < s->n && s->solutions < 2; i++)
	{
		if (--s->budget < 0)
			return;
		if (s->suffix[i] < left)
			return;				/* the rest cannot add up */
		if (s->amt[i] > left)
			continue;
		s->stack[depth] = i;
		if (s->amt[i] == left)
		{
			if (depth + 1 >= 2)
			{
				if (s->solutions == 0)
				{
					memcpy(s->first, s->stack, sizeof(int) * (depth + 1));
					s->nfirst = depth + 1;
				}
				else
				{
					memcpy(s->second, s->stack, sizeof(int) * (depth + 1));
					s->nsecond = depth + 1;
				}
				s->solutions++;
			}
			continue;
		}
		if (depth + 1 < s->maxparts)
			subset_dfs(s, i + 1, left - s->amt[i], depth + 1);
	}
}

typedef struct AmtIdx
{
	int64		amt;
	int64		id;
	int32		inv;
} AmtIdx;

static int
cmp_amt_desc(const void *a, const void *b)
{
	const AmtIdx *x = a;
	const AmtIdx *y = b;

	if (x->amt != y->amt)
		return x->amt > y->amt ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

/*
 * Fuzzy: customers whose name is like the payer's name, and of them the open
 * invoices of exactly the payment's amount, as suggestions.
 */
static void
suggest_by_name(Matcher *m, MPay *p)
{
	char		norm[256];
	uint32		tp[MAX_TRIGRAMS];
	int			ntp;
	int32		cand[NAME_MAX_CANDIDATES];
	int			ncand = 0;
	const char *w;

	if (p->name == NULL || normalize_name(p->name, norm, sizeof(norm)) == 0)
		return;
	if (!m->names_loaded)
		load_names(m);
	ntp = trigrams(norm, tp);
	w = norm;
	while (*w)
	{
		const char *start = w;
		int			wl;
		uint32		hash;
		uint32		pos = PG_UINT32_MAX;
		int32		x;

		while (*w && *w != ' ')
			w++;
		wl = w - start;
		if (*w == ' ')
			w++;
		if (wl < 3)
			continue;
		hash = key_hash(0, start, wl);
		while ((x = hindex_next(&m->word_by_str, hash, &pos)) >= 0)
		{
			const char *ws = ARENA_STR(&m->str, m->words[x].word);

			if ((int) strlen(ws) == wl && memcmp(ws, start, wl) == 0)
				break;
		}
		if (x < 0 || m->words[x].n > NAME_WORD_MAX_CUSTOMERS)
			continue;
		for (int32 q = m->words[x].head; q >= 0 && ncand < NAME_MAX_CANDIDATES; q = m->posts[q].next)
		{
			int32		c = m->posts[q].cust;
			bool		dup = false;

			if (m->cust[c].entity != p->entity)
				continue;
			for (int k = 0; k < ncand; k++)
				if (cand[k] == c)
					dup = true;
			if (!dup)
				cand[ncand++] = c;
		}
	}
	for (int k = 0; k < ncand; k++)
	{
		MCust	   *c = &m->cust[cand[k]];
		uint32		tc[MAX_TRIGRAMS];
		int			ntc = trigrams(ARENA_STR(&m->str, c->name), tc);
		double		sim = trigram_similarity(tp, ntp, tc, ntc);

		if (sim < NAME_MIN_SIMILARITY)
			continue;
		for (int32 x = c->first; x >= 0; x = m->inv[x].next)
			if (payable(m, p, x) && m->inv[x].rem == p->amount)
				suggest(m, x, (int) (sim * SCORE_NAME_MAX), RULE_PAYER_NAME);
	}
}

static int
cmp_cand(const void *a, const void *b, void *arg)
{
	const Cand *x = a;
	const Cand *y = b;
	const Matcher *m = arg;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return m->inv[x->inv].id < m->inv[y->inv].id ? -1 : 1;
}

/* Is every invoice of xs among the invoices the weaker evidence points at? */
static bool
agrees(const int32 *evidence, int nev, const int32 *xs, int nx)
{
	if (nev == 0)
		return true;
	for (int i = 0; i < nx; i++)
	{
		bool		found = false;

		for (int j = 0; j < nev; j++)
			if (evidence[j] == xs[i])
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* Does a strong text hit name an invoice other than the references' xs? */
static bool
disputed(const Hit *hits, int nh, const int32 *xs, int nx)
{
	for (int k = 0; k < nh; k++)
	{
		bool		named = false;

		for (int j = 0; j < nx; j++)
			if (hits[k].inv == xs[j])
				named = true;
		if (hits[k].strong && !named)
			return true;
	}
	return false;
}

static Outcome
decide(Matcher *m, MPay *p, bool *wrote_off)
{
	bool		conflict = false;	/* evidence against any automatic match */
	int32		evidence[32];	/* invoices weaker evidence points at */
	int			nev = 0;
	Hit			hits[16];
	int			nh = 0;
	int64		customers[32];
	int			ncustomers = 0;
	bool		payers_complete = true; /* all the account's customers are weighed */
	int32		weak = -1;		/* rule b's weak hit, decided with the rest */
	bool		all_hits;
	/* a number of digits only names an invoice that cannot take the payment */
	bool		weak_against;
	int32		corrected[N_CHECK_CHARS];	/* what corrected references name */
	int			ncorrected = 0;

	m->ncands = 0;
	*wrote_off = false;

	/*
	 * A text naming more invoices than are weighed, or one that is not open:
	 * no automatic match
	 */
	nh = payment_hits(m, p, hits, lengthof(hits), &all_hits);
	conflict = !all_hits || p->names_closed;
	weak_against = p->names_closed_weak;

	/* a, with further references: all the invoices they name */
	if (p->nextra > 0)
	{
		int32		xs[MAX_REFERENCES];
		int64		given[MAX_REFERENCES];
		bool		complete;
		bool		amounts;
		bool		deducts;
		int			nx = referenced_invoices(m, p, xs, given, lengthof(xs), &complete, &amounts,
											 &deducts);
		Outcome		out;

		if (complete && nx > 0 && !conflict && !disputed(hits, nh, xs, nx) &&
			apply_references(m, p, xs, given, nx, amounts, wrote_off, &out))
			return out;
		for (int j = 0; j < nx; j++)
		{
			suggest(m, xs[j], SCORE_REFERENCE_DISPUTED, RULE_REFERENCE);
			if (nev < (int) lengthof(evidence))
				evidence[nev++] = xs[j];
		}
		/*
		 * references that name no open invoice, amounts that do not fit, or
		 * only a deduction: the payment is not what any one invoice is owed
		 * (blank references alone say nothing)
		 */
		if (nx > 0 || !complete || deducts)
			conflict = true;
	}
	/* a. the structured reference, unless the text names another invoice */
	else if (p->valid)
	{
		int32		found[2];

		if (reference_lookup(m, p, found, lengthof(found)) == 1 &&
			payable(m, p, found[0]))
		{
			if (!disputed(hits, nh, found, 1) && !conflict)
				return apply_named(m, p, found[0], RULE_REFERENCE, CONF_REFERENCE, wrote_off);
			suggest(m, found[0], SCORE_REFERENCE_DISPUTED, RULE_REFERENCE);
			evidence[nev++] = found[0];
		}
		/* a valid reference of an invoice that cannot take this payment */
		conflict = true;
	}

	/*
	 * A reference with a wrong check digit: would the right one name an
	 * invoice?  Weighed before the text, so that a text naming another
	 * invoice (or a run of the reference's own groups that is another
	 * invoice's reference) is not applied against it.
	 */
	{
		char		fixed[N_CHECK_CHARS][MAX_TOKEN_LEN];
		int			fixed_len[N_CHECK_CHARS];
		int			nf = corrected_refs(p, fixed, fixed_len);

		for (int f = 0; f < nf; f++)
		{
			int32		found[2];

			if (lookup_key(m, &m->by_ref, true, p->entity, fixed[f], fixed_len[f], found, lengthof(found)) == 1 &&
				payable(m, p, found[0]))
			{
				suggest(m, found[0], SCORE_CHECK_DIGIT, RULE_CHECK_DIGIT);
				if (ncorrected < (int) lengthof(corrected))
					corrected[ncorrected++] = found[0];
				if (nev < (int) lengthof(evidence))
					evidence[nev++] = found[0];
			}
		}
	}

	/* b. invoice numbers and references in the text */
	{
		int			n = 0;
		Hit			ok[16];
		bool		all_strong = true;
		int64		sum = 0;
		bool		overflow = false;

		for (int k = 0; k < nh; k++)
		{
			if (payable(m, p, hits[k].inv))
			{
				ok[n++] = hits[k];
				all_strong &= hits[k].strong;
				overflow |= pg_add_s64_overflow(sum, m->inv[hits[k].inv].rem, &sum);
			}
			else if (hits[k].strong)
				conflict = true;	/* names a closed invoice, or another currency */
			else
				weak_against = true;	/* perhaps: paid earlier in this run */
		}
		/* a corrected reference that names another invoice disputes the text */
		for (int k = 0; k < ncorrected && n > 0; k++)
		{
			bool		named = false;

			for (int j = 0; j < n; j++)
				if (ok[j].inv == corrected[k])
					named = true;
			if (!named)
				conflict = true;
		}
		if (n == 1 && !conflict)
		{
			int32		x = ok[0].inv;

			if (ok[0].strong)
				return apply_named(m, p, x, RULE_TEXT, CONF_TEXT_STRONG, wrote_off);
			/* a number of digits only with the exact amount: decided below */
			if (m->inv[x].rem == p->amount && m->inv[x].claims == 0)
				weak = x;
		}
		if (n > 1 && !conflict && all_strong && !overflow && sum == p->amount)
		{
			int32		xs[16];

			for (int k = 0; k < n; k++)
				xs[k] = ok[k].inv;
			qsort(xs, n, sizeof(int32), cmp_int32);
			for (int k = 0; k < n; k++)
			{
				emit_alloc(m, p, xs[k], m->inv[xs[k]].rem, RULE_TEXT, CONF_TEXT_SUM);
				learn(m, p, xs[k], RULE_TEXT);
			}
			return OUT_TEXT;
		}
		for (int k = 0; k < n; k++)
		{
			suggest(m, ok[k].inv, n == 1 ? SCORE_TEXT_ONE : SCORE_TEXT_MANY, RULE_TEXT);
			if (nev < (int) lengthof(evidence))
				evidence[nev++] = ok[k].inv;
		}
	}

	if (p->account)
		ncustomers = payer_customers(m, p->entity, p->account, customers, lengthof(customers));
	if (ncustomers > (int) lengthof(customers))
	{
		payers_complete = false;
		ncustomers = lengthof(customers);
	}

	/*
	 * b, weak: holds only when no other evidence points elsewhere (a
	 * corrected check digit) and a known payer account is the invoice's
	 * customer's.
	 */
	if (weak >= 0 && !conflict && !weak_against)
	{
		bool		holds = true;

		for (int k = 0; k < nev; k++)
			if (evidence[k] != weak)
				holds = false;
		if (ncustomers > 0)
		{
			bool		known = false;

			for (int k = 0; k < ncustomers; k++)
				if (customers[k] == m->cust[m->inv[weak].cust].id)
					known = true;
			holds &= known;
		}
		if (holds)
		{
			emit_alloc(m, p, weak, p->amount, RULE_TEXT, CONF_TEXT_WEAK);
			learn(m, p, weak, RULE_TEXT);
			return OUT_TEXT;
		}
	}

	/* c. a known payer and exactly one open invoice of the amount */
	if (ncustomers > 0)
	{
		int32		eq[lengthof(m->cands)];
		int			neq = 0;

		for (int k = 0; k < ncustomers; k++)
		{
			int32		c = cust_index(m, customers[k]);

			if (c < 0 || m->cust[c].entity != p->entity)
				continue;
			for (int32 x = m->cust[c].first; x >= 0; x = m->inv[x].next)
				if (payable(m, p, x) && m->inv[x].claims == 0 &&
					m->inv[x].rem == p->amount && neq < (int) lengthof(eq))
					eq[neq++] = x;
		}
		if (neq == 1 && !conflict && !weak_against && payers_complete && agrees(evidence, nev, eq, 1))
		{
			emit_alloc(m, p, eq[0], p->amount, RULE_PAYER_AMOUNT, CONF_PAYER_AMOUNT);
			return OUT_PAYER_AMOUNT;
		}
		for (int k = 0; k < neq; k++)
			suggest(m, eq[k], neq == 1 ? SCORE_PAYER_AMOUNT_ONE : SCORE_PAYER_AMOUNT_MANY,
					RULE_PAYER_AMOUNT);

		/* d. a known payer and exactly one set of invoices of one customer */
		if (neq == 0 && match_sum_max_invoices > 1)
		{
			int			solutions = 0;
			bool		complete = true;
			int32		chosen[10];
			int			nchosen = 0;

			for (int k = 0; k < ncustomers && solutions < 2; k++)
			{
				int32		xs[64];
				bool		more = false;
				int			n = customer_invoices(m, p, customers[k], xs,
												  Min(match_sum_max_invoices, (int) lengthof(xs)),
												  &more);
				AmtIdx		ai[64];
				int64		amt[64];
				int64		suffix[65];
				int			na = 0;
				SubsetSearch s;

				if (more)
				{
					complete = false;
					continue;
				}
				for (int j = 0; j < n; j++)
					if (m->inv[xs[j]].rem < p->amount)
					{
						ai[na].amt = m->inv[xs[j]].rem;
						ai[na].id = m->inv[xs[j]].id;
						ai[na].inv = xs[j];
						na++;
					}
				if (na < 2)
					continue;
				qsort(ai, na, sizeof(AmtIdx), cmp_amt_desc);
				suffix[na] = 0;
				for (int j = na - 1; j >= 0; j--)
				{
					amt[j] = ai[j].amt;
					if (pg_add_s64_overflow(suffix[j + 1], amt[j], &suffix[j]))
						suffix[j] = PG_INT64_MAX;
				}
				memset(&s, 0, sizeof(s));
				s.amt = amt;
				s.suffix = suffix;
				s.n = na;
				s.maxparts = match_sum_max_parts;
				s.budget = SUBSET_NODE_BUDGET;
				subset_dfs(&s, 0, p->amount, 0);
				if (s.budget < 0)
					complete = false;
				if (s.solutions > 0)
				{
					if (solutions == 0)
					{
						nchosen = s.nfirst;
						for (int j = 0; j < s.nfirst; j++)
							chosen[j] = ai[s.first[j]].inv;
					}
					for (int j = 0; j < s.nfirst; j++)
						suggest(m, ai[s.first[j]].inv, SCORE_PAYER_SUM, RULE_PAYER_SUM);
					for (int j = 0; j < s.nsecond && s.solutions > 1; j++)
						suggest(m, ai[s.second[j]].inv, SCORE_PAYER_SUM, RULE_PAYER_SUM);
				}
				solutions += s.solutions;
			}
			if (solutions == 1 && complete && !conflict && !weak_against && payers_complete &&
				agrees(evidence, nev, chosen, nchosen))
			{
				m->ncands = 0;
				qsort(chosen, nchosen, sizeof(int32), cmp_int32);
				for (int j = 0; j < nchosen; j++)
					emit_alloc(m, p, chosen[j], m->inv[chosen[j]].rem, RULE_PAYER_SUM,
							   CONF_PAYER_SUM);
				return OUT_PAYER_SUM;
			}
		}
	}

	/* suggestions only: the payer's name */
	suggest_by_name(m, p);
	return m->ncands > 0 ? OUT_SUGGESTED : OUT_UNMATCHED;
}

/* ------------------------------------------------------------------------
 * Writing a batch
 * ------------------------------------------------------------------------ */

static int
cmp_touched(const void *a, const void *b, void *arg)
{
	const Matcher *m = arg;
	int64		x = m->inv[((const Touched *) a)->inv].id;
	int64		y = m->inv[((const Touched *) b)->inv].id;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Each statement of a batch touches or looks up one batch of rows by key:
 * index lookups.  A hash or merge join would read the whole table once per
 * batch (the planner cannot see how few rows the status filters leave),
 * which makes a run quadratic in the number of payments.  So would a nested
 * loop that scans the table once and the batch once for every row of it:
 * the plan the planner took when it thought that few rows of the table
 * passed the statement's conditions on the table alone (status and amount
 * equalities it misjudges, or statistics taken before an import: 80,000
 * payments imported into a table analyzed empty took more than 12 minutes
 * instead of seconds).  So the statements compare what must be unchanged
 * with the batch's columns (the row's status and amounts as read), not with
 * constants, which leaves the planner nothing to misjudge on the table
 * alone; and a scan of the whole table is made to look dear.  Returns the
 * GUC nest level to pass to AtEOXact_GUC when the statements are done.
 */
static int
by_index_only(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_mergejoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Which payments of the batch name, by a strong key of their text or by
 * their reference with the check digit corrected, an invoice that is not
 * open: paid or credited (in an earlier run), or a credit note; or, by a
 * strong key, an invoice of another entity.  The
 * matcher holds only open invoices; the keys that name none of them are
 * looked up in the invoice table, each once per run (while the cache stays
 * below MAX_TEXT_KEYS).
 */
static void
find_closed_names(Matcher *m, MPay *ps, int n)
{
	int32	   *ent;
	const char **key;
	const char **written;
	int32	   *kinds;
	int32	   *which;
	int			nq = 0;

	if (m->key_by_str.items == NULL || m->nkeys > MAX_TEXT_KEYS)
	{
		MemoryContext old;

		MemoryContextReset(m->closed_cxt);
		memset(&m->closed_str, 0, sizeof(Arena));
		m->keys = NULL;
		m->nkeys = m->capkeys = 0;
		old = MemoryContextSwitchTo(m->closed_cxt);
		hindex_init(&m->key_by_str, 4096);
		MemoryContextSwitchTo(old);
	}

	m->nuses = 0;
	for (int k = 0; k < n; k++)
	{
		Hit			hits[16];
		bool		all;
		char		fixed[N_CHECK_CHARS][MAX_TOKEN_LEN];
		int			fixed_len[N_CHECK_CHARS];
		int			nf;

		m->cur_pay = &ps[k];
		(void) payment_hits(m, &ps[k], hits, lengthof(hits), &all);
		nf = corrected_refs(&ps[k], fixed, fixed_len);
		for (int f = 0; f < nf; f++)
		{
			int32		found[2];

			if (lookup_key(m, &m->by_ref, true, ps[k].entity, fixed[f], fixed_len[f],
						   found, lengthof(found)) == 0)
				note_key(m, ps[k].entity, fixed[f], fixed[f], fixed_len[f], false, true, false);
		}
		/* a reference field as written, when the normal form differs */
		if (ps[k].ref_raw != NULL)
		{
			int32		found[2];
			int			len = strlen(ps[k].ref_raw);

			if (lookup_key(m, &m->by_ref, true, ps[k].entity, ps[k].ref_raw, len,
						   found, lengthof(found)) == 0)
				note_key(m, ps[k].entity, ps[k].ref_raw, ps[k].ref_raw, len, false, true, false);
		}
	}
	m->cur_pay = NULL;

	ent = palloc(sizeof(int32) * (m->nuses + 1));
	key = palloc(sizeof(char *) * (m->nuses + 1));
	written = palloc(sizeof(char *) * (m->nuses + 1));
	kinds = palloc(sizeof(int32) * (m->nuses + 1));
	which = palloc(sizeof(int32) * (m->nuses + 1));
	for (int u = 0; u < m->nuses; u++)
	{
		TextKey    *k = &m->keys[m->uses[u].key];

		if (k->state != KEY_PENDING)
			continue;
		k->state = KEY_NONE;	/* unless the lookup finds it */
		ent[nq] = k->entity;
		key[nq] = ARENA_STR(&m->closed_str, k->key);
		written[nq] = ARENA_STR(&m->closed_str, k->written);
		kinds[nq] = (k->as_number ? 1 : 0) | (k->as_ref ? 2 : 0) | (k->weak ? 4 : 0);
		which[nq] = m->uses[u].key;
		nq++;
	}
	if (nq > 0)
	{
		Oid			types[4] = {INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID};
		Datum		values[4];
		int			nestlevel = by_index_only();
		uint64		found;

		values[0] = int4_array(ent, nq);
		values[1] = text_array(key, nq);
		values[2] = text_array(written, nq);
		values[3] = int4_array(kinds, nq);
		/*
		 * Closed: an invoice of the payment's entity (not open, or it would
		 * be in the hash tables), or by a strong key (a reference is never
		 * weak) one of another entity, open or not: money for a sister
		 * company, paid to this one's account, is not applied here by payer
		 * and amount.
		 */
		found = spi_run("SELECT k.n::integer"
						"  FROM unnest($1, $2, $3, $4) WITH ORDINALITY AS k (entity, key, written, kinds, n)"
						" WHERE k.kinds & 2 <> 0 AND EXISTS (SELECT 1 FROM ar.entity e JOIN ar.invoice i"
						"       ON i.entity_id = e.id WHERE i.payment_reference = k.key)"
						"    OR k.kinds & 1 <> 0 AND EXISTS (SELECT 1 FROM ar.entity e JOIN ar.invoice i"
						"       ON i.entity_id = e.id WHERE (e.id = k.entity OR k.kinds & 4 = 0)"
						"       AND i.number IN (k.key, k.written))",
						4, types, values, NULL, SPI_OK_SELECT);
		for (uint64 r = 0; r < found; r++)
		{
			bool		isnull;
			int32		q = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
													   SPI_tuptable->tupdesc, 1, &isnull));

			m->keys[which[q - 1]].state = KEY_CLOSED;
		}
		SPI_freetuptable(SPI_tuptable);
		AtEOXact_GUC(true, nestlevel);
	}
	for (int u = 0; u < m->nuses; u++)
		if (m->keys[m->uses[u].key].state == KEY_CLOSED)
			mark_closed(m->uses[u].pay, &m->keys[m->uses[u].key]);
	m->uses = NULL;
	m->nuses = m->capuses = 0;
}

static void
write_batch(Matcher *m)
{
	int			n;
	instr_time	start;
	int			nestlevel = by_index_only();

	/* payments first, then invoices: the lock order of ar.allocate */
	if ((n = m->npays) > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * n);
		int64	   *un = palloc(sizeof(int64) * n);
		int64	   *was = palloc(sizeof(int64) * n);
		const char **st = palloc(sizeof(char *) * n);
		const char **old = palloc(sizeof(char *) * n);
		Oid			types[5] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
		Datum		values[5];

		for (int k = 0; k < n; k++)
		{
			ids[k] = m->pays[k].id;
			un[k] = m->pays[k].unallocated;
			st[k] = m->pays[k].status;
			old[k] = m->pays[k].old_status;
			was[k] = m->pays[k].amount;
		}
		values[0] = int8_array(ids, NULL, n);
		values[1] = int8_array(un, NULL, n);
		values[2] = text_array(st, n);
		values[3] = text_array(old, n);
		values[4] = int8_array(was, NULL, n);
		INSTR_TIME_SET_CURRENT(start);
		/* (what must be unchanged is compared with u: see by_index_only) */
		if (spi_run("UPDATE ar.payment p"
					"   SET unallocated = ar.amount_of_minor(u.unallocated, ar.currency_of(p.amount)),"
					"       status = u.status"
					"  FROM unnest($1, $2, $3, $4, $5) AS u (id, unallocated, status, old_status, was)"
					" WHERE p.id = u.id AND p.status = u.old_status AND p.kind = 'credit'"
					"   AND ar.minor_units(p.unallocated) = u.was",
					5, types, values, NULL, SPI_OK_UPDATE) != (uint64) n)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("payments changed while ar.match_payments ran"),
					 errhint("Run ar.match_payments again.")));
		m->ms_payments += ms_since(start);
	}

	if ((n = m->ntouched) > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * n);
		int64	   *expect = palloc(sizeof(int64) * n);
		int64	   *open = palloc(sizeof(int64) * n);
		const char **st = palloc(sizeof(char *) * n);
		const char **old = palloc(sizeof(char *) * n);
		Oid			types[5] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[5];

		/* in id order: index and heap pages in order, and the locks too */
		qsort_arg(m->touched, n, sizeof(Touched), cmp_touched, m);
		for (int k = 0; k < n; k++)
		{
			MInv	   *inv = &m->inv[m->touched[k].inv];

			ids[k] = inv->id;
			expect[k] = m->touched[k].start_rem;
			open[k] = inv->rem;
			st[k] = inv->rem == 0 ? "paid" : "partially_paid";
			old[k] = inv->was_partial ? "partially_paid" : "issued";
		}
		values[0] = int8_array(ids, NULL, n);
		values[1] = int8_array(expect, NULL, n);
		values[2] = int8_array(open, NULL, n);
		values[3] = text_array(st, n);
		values[4] = text_array(old, n);
		INSTR_TIME_SET_CURRENT(start);
		/* (what must be unchanged is compared with u: see by_index_only) */
		if (spi_run("UPDATE ar.invoice i"
					"   SET open_amount = ar.amount_of_minor(u.open, i.currency),"
					"       status = u.status::ar.invoice_status"
					"  FROM unnest($1, $2, $3, $4, $5) AS u (id, expected, open, status, old_status)"
					" WHERE i.id = u.id AND ar.minor_units(i.open_amount) = u.expected"
					"   AND i.status = u.old_status::ar.invoice_status AND i.kind = 'invoice'",
					5, types, values, NULL, SPI_OK_UPDATE) != (uint64) n)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("invoices changed while ar.match_payments ran"),
					 errhint("Run ar.match_payments again.")));
		/* what a later batch of this run finds them as */
		for (int k = 0; k < n; k++)
		{
			MInv	   *inv = &m->inv[m->touched[k].inv];

			inv->was_partial = inv->rem != 0;
		}
		m->ms_invoices += ms_since(start);
	}

	if ((n = m->nallocs) > 0)
	{
		int64	   *pid = palloc(sizeof(int64) * n);
		int64	   *iid = palloc(sizeof(int64) * n);
		int64	   *amt = palloc(sizeof(int64) * n);
		const char **cur = palloc(sizeof(char *) * n);
		const char **rule = palloc(sizeof(char *) * n);
		const char **conf = palloc(sizeof(char *) * n);
		Oid			types[6] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[6];

		for (int k = 0; k < n; k++)
		{
			AllocOut   *a = &m->allocs[k];
			char	   *code = palloc(4);

			ArCurrencyUnpack(a->currency, code);
			pid[k] = a->payment_id;
			iid[k] = a->invoice_id;
			amt[k] = a->amount;
			cur[k] = code;
			rule[k] = rule_names[a->rule];
			conf[k] = a->conf == 100 ? "1" : psprintf("0.%02d", a->conf);
		}
		values[0] = int8_array(pid, NULL, n);
		values[1] = int8_array(iid, NULL, n);
		values[2] = int8_array(amt, NULL, n);
		values[3] = text_array(cur, n);
		values[4] = text_array(rule, n);
		values[5] = text_array(conf, n);
		INSTR_TIME_SET_CURRENT(start);
		/* a write-off takes nothing from the payment that left it */
		spi_run("INSERT INTO ar.allocation (payment_id, written_off_for, invoice_id, amount, rule,"
				"                           confidence)"
				" SELECT CASE WHEN u.rule <> 'write_off' THEN u.payment_id END,"
				"        CASE WHEN u.rule = 'write_off' THEN u.payment_id END,"
				"        u.invoice_id, ar.amount_of_minor(u.amount, u.currency),"
				"        u.rule, u.confidence::numeric"
				"   FROM unnest($1, $2, $3, $4, $5, $6)"
				"        AS u (payment_id, invoice_id, amount, currency, rule, confidence)",
				6, types, values, NULL, SPI_OK_INSERT);
		m->ms_allocations += ms_since(start);
	}

	/* the old suggestions of payments decided again */
	if (m->nresuggest > 0 && m->suggestions_exist)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		values[1];

		values[0] = int8_array(m->resuggest, NULL, m->nresuggest);
		spi_run("DELETE FROM ar.match_suggestion s WHERE s.payment_id = ANY ($1)",
				1, types, values, NULL, SPI_OK_DELETE);
	}

	if ((n = m->nsuggs) > 0)
	{
		int64	   *pid = palloc(sizeof(int64) * n);
		int64	   *iid = palloc(sizeof(int64) * n);
		const char **score = palloc(sizeof(char *) * n);
		const char **rule = palloc(sizeof(char *) * n);
		Oid			types[4] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[4];

		for (int k = 0; k < n; k++)
		{
			pid[k] = m->suggs[k].payment_id;
			iid[k] = m->suggs[k].invoice_id;
			score[k] = psprintf("0.%02d", m->suggs[k].score);
			rule[k] = rule_names[m->suggs[k].rule];
		}
		values[0] = int8_array(pid, NULL, n);
		values[1] = int8_array(iid, NULL, n);
		values[2] = text_array(score, n);
		values[3] = text_array(rule, n);
		spi_run("INSERT INTO ar.match_suggestion (payment_id, invoice_id, score, rule)"
				" SELECT u.payment_id, u.invoice_id, u.score::numeric, u.rule"
				"   FROM unnest($1, $2, $3, $4) AS u (payment_id, invoice_id, score, rule)",
				4, types, values, NULL, SPI_OK_INSERT);
		m->suggestions_exist = true;
	}

	/*
	 * Suggestions of invoices paid in full are settled.  A payment decided
	 * in this run (its id is at most the batch's last) that is left without
	 * suggestions is unmatched again; later ones are still to be decided.
	 */
	if (m->suggestions_exist && m->ntouched > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * m->ntouched);
		int			nclosed = 0;
		Oid			types[2] = {INT8ARRAYOID, INT8OID};
		Datum		values[2];

		for (int k = 0; k < m->ntouched; k++)
			if (m->inv[m->touched[k].inv].rem == 0)
				ids[nclosed++] = m->inv[m->touched[k].inv].id;
		if (nclosed > 0)
		{
			values[0] = int8_array(ids, NULL, nclosed);
			values[1] = Int64GetDatum(m->last_payment);
			spi_run("WITH gone AS (DELETE FROM ar.match_suggestion s WHERE s.invoice_id = ANY ($1)"
					"              RETURNING s.payment_id)"
					"UPDATE ar.payment p SET status = 'unmatched'"
					"  FROM (SELECT DISTINCT g.payment_id, 'suggested' AS was FROM gone g"
					"         WHERE g.payment_id <= $2) g"
					" WHERE p.id = g.payment_id AND p.status = g.was"
					"   AND NOT EXISTS (SELECT 1 FROM ar.match_suggestion s"
					"                    WHERE s.payment_id = p.id AND s.invoice_id <> ALL ($1))",
					2, types, values, NULL, SPI_OK_UPDATE);
		}
	}

	if ((n = m->nlearns) > 0)
	{
		int32	   *ent = palloc(sizeof(int32) * n);
		const char **acct = palloc(sizeof(char *) * n);
		int64	   *cust = palloc(sizeof(int64) * n);
		int64	   *pay = palloc(sizeof(int64) * n);
		const char **rule = palloc(sizeof(char *) * n);
		Oid			types[5] = {INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
		TEXTARRAYOID};
		Datum		values[5];

		for (int k = 0; k < n; k++)
		{
			ent[k] = m->learns[k].entity;
			acct[k] = m->learns[k].account;
			cust[k] = m->learns[k].customer_id;
			pay[k] = m->learns[k].payment_id;
			rule[k] = rule_names[m->learns[k].rule];
		}
		values[0] = int4_array(ent, n);
		values[1] = text_array(acct, n);
		values[2] = int8_array(cust, NULL, n);
		values[3] = int8_array(pay, NULL, n);
		values[4] = text_array(rule, n);
		spi_run("INSERT INTO ar.payer_account (entity_id, payer_account, customer_id, learned_from, rule)"
				" SELECT * FROM unnest($1, $2, $3, $4, $5)"
				" ON CONFLICT DO NOTHING",
				5, types, values, NULL, SPI_OK_INSERT);
	}

	m->nallocs = m->npays = m->nsuggs = m->nlearns = m->ntouched = m->nresuggest = 0;
	AtEOXact_GUC(true, nestlevel);
}

/* ------------------------------------------------------------------------
 * The passes over the payments
 * ------------------------------------------------------------------------ */

#define PAYMENT_FILTER \
"  FROM ar.payment p" \
" WHERE p.kind = 'credit' AND p.status IN ('unmatched', 'suggested')" \
"   AND p.unallocated = p.amount" \
"   AND ($1::integer IS NULL OR p.entity_id = $1)"

/* the first pass needs less than the second */
static const char *const claims_query =
"SELECT p.id, p.entity_id, p.amount, p.reference, p.remittance" PAYMENT_FILTER;
static const char *const payment_query =
"SELECT p.id, p.entity_id, p.amount, p.reference, p.remittance, p.payer_account,"
"       p.payer_name, p.status" PAYMENT_FILTER " ORDER BY p.id";

/* Whether any payment waits to be matched (the payment_open index). */
static bool
payments_waiting(Matcher *m)
{
	Portal		portal = spi_open(m, "SELECT 1" PAYMENT_FILTER " LIMIT 1");
	uint64		n;
	SPITupleTable *tt = spi_fetch(portal, &n);

	if (tt != NULL)
		SPI_freetuptable(tt);
	SPI_cursor_close(portal);
	return n > 0;
}

/* Read one payment row into p (strings in the current context); false to skip. */
static bool
read_payment(Matcher *m, HeapTuple t, TupleDesc desc, MPay *p)
{
	bool		isnull;
	Datum		d = SPI_getbinval(t, desc, 3, &isnull);
	ArAmount   *amt;
	char	   *acct;
	char	   *status;

	if (isnull)
		return false;
	amt = DatumGetArAmountP(d);
	p->id = get_int64(t, desc, 1);
	p->entity = get_int32(t, desc, 2);
	p->amount = amt->units;
	p->currency = amt->currency;
	p->ent = entity_of(m, p->entity);
	if (p->ent == NULL || p->amount <= 0)
		return false;
	p->ref = get_text(t, desc, 4);
	p->rl = 0;
	p->valid = false;
	if (p->ref != NULL && (p->rl = compact_upper(p->ref, p->refn, sizeof(p->refn))) < 0)
		p->rl = 0;
	p->ref_raw = NULL;
	if (p->rl > 0)
	{
		char		raw[MAX_TOKEN_LEN];

		memcpy(raw, p->refn, p->rl + 1);
		if (normal_reference(p->ent, p->refn, &p->rl))
			p->ref_raw = pstrdup(raw);
		p->valid = reference_valid(p->ent, p->refn);
	}
	p->text = get_text(t, desc, 5);
	p->account = NULL;
	p->name = NULL;
	p->was_suggested = false;
	p->names_closed = false;
	p->names_closed_weak = false;
	p->extra = NULL;
	p->nextra = 0;
	if (desc->natts < 8)
		return true;			/* the first pass */
	acct = get_text(t, desc, 6);
	if (acct != NULL)
	{
		char	   *buf = palloc(strlen(acct) + 1);

		if (compact_upper(acct, buf, strlen(acct) + 1) > 0)
			p->account = buf;
	}
	p->name = get_text(t, desc, 7);
	status = get_text(t, desc, 8);
	p->was_suggested = status != NULL && strcmp(status, "suggested") == 0;
	return true;
}

static int
cmp_pay_id(const void *a, const void *b, void *arg)
{
	const MPay *ps = arg;
	int64		x = ps[*(const int *) a].id;
	int64		y = ps[*(const int *) b].id;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Read a fetched batch of payment rows into an array (batch_cxt), with
 * their further references; returns how many there are.
 */
static int
read_payments(Matcher *m, SPITupleTable *tt, uint64 nrows, MPay **out)
{
	MPay	   *ps = palloc(sizeof(MPay) * Max(nrows, 1));
	int			n = 0;
	int64	   *ids;
	int		   *order;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	SPITupleTable *xt;
	uint64		nx;
	int			k = 0;

	for (uint64 r = 0; r < nrows; r++)
		if (read_payment(m, tt->vals[r], tt->tupdesc, &ps[n]))
			n++;
	*out = ps;
	if (!m->extras_exist || n == 0)
		return n;

	/* the payments in id order (the first pass reads them unordered) */
	ids = palloc(sizeof(int64) * n);
	order = palloc(sizeof(int) * n);
	for (int j = 0; j < n; j++)
	{
		ids[j] = ps[j].id;
		order[j] = j;
	}
	qsort_arg(order, n, sizeof(int), cmp_pay_id, ps);
	values[0] = int8_array(ids, NULL, n);
	nx = spi_run("SELECT x.payment_id, x.reference, x.amount FROM ar.payment_extra_ref x"
				 " WHERE x.payment_id = ANY ($1) ORDER BY x.payment_id, x.seq",
				 1, types, values, NULL, SPI_OK_SELECT);
	xt = SPI_tuptable;
	for (uint64 r = 0; r < nx;)
	{
		int64		id = get_int64(xt->vals[r], xt->tupdesc, 1);
		uint64		end = r;
		MPay	   *p = NULL;

		while (end < nx && get_int64(xt->vals[end], xt->tupdesc, 1) == id)
			end++;
		while (k < n && ps[order[k]].id < id)
			k++;
		if (k < n && ps[order[k]].id == id)
			p = &ps[order[k]];
		if (p != NULL)
		{
			p->extra = palloc(sizeof(MExtra) * (end - r));
			for (; r < end; r++)
			{
				MExtra	   *e = &p->extra[p->nextra++];
				bool		isnull;
				Datum		d = SPI_getbinval(xt->vals[r], xt->tupdesc, 3, &isnull);
				ArAmount   *a = isnull ? NULL : DatumGetArAmountP(d);

				e->ref = get_text(xt->vals[r], xt->tupdesc, 2);
				e->has_amount = a != NULL && a->currency == p->currency;
				e->amount = e->has_amount ? a->units : 0;
			}
		}
		r = end;
	}
	SPI_freetuptable(xt);
	return n;
}

/* First pass: count the claims of every payment on the invoices it names. */
static void
count_claims(Matcher *m)
{
	Portal		portal = spi_open(m, claims_query);
	SPITupleTable *tt;
	uint64		nrows;

	while ((tt = spi_fetch(portal, &nrows)) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(m->batch_cxt);
		MPay	   *ps;
		int			np = read_payments(m, tt, nrows, &ps);

		for (int j = 0; j < np; j++)
		{
			int32		xs[MAX_CLAIMS];
			int			n = payment_claims(m, &ps[j], xs, lengthof(xs));

			for (int k = 0; k < n; k++)
				if (m->inv[xs[k]].claims < PG_UINT16_MAX)
					m->inv[xs[k]].claims++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(m->batch_cxt);
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

/* Decide one payment and queue what it changes. */
static void
match_one(Matcher *m, MPay *p)
{
	int32		xs[MAX_CLAIMS];
	int			n;
	int			before = m->nallocs;
	Outcome		out;
	bool		wrote_off;
	int64		applied = 0;
	const char *status;
	const char *old_status = p->was_suggested ? "suggested" : "unmatched";

	m->npayments++;
	m->last_payment = p->id;
	/* its own claims no longer hold other payments back */
	n = payment_claims(m, p, xs, lengthof(xs));
	for (int k = 0; k < n; k++)
		if (m->inv[xs[k]].claims > 0)
			m->inv[xs[k]].claims--;

	out = decide(m, p, &wrote_off);
	for (int k = before; k < m->nallocs; k++)
		if (m->allocs[k].rule != RULE_WRITE_OFF)
			applied += m->allocs[k].amount;

	/*
	 * What a payment names and leaves open (left to a person, or paid in
	 * part) stays claimed for the rest of the run, so that the amount rules
	 * of later payments leave it alone just as they did for earlier ones.
	 */
	for (int k = 0; k < n; k++)
		if (m->inv[xs[k]].rem > 0 && m->inv[xs[k]].claims < PG_UINT16_MAX)
			m->inv[xs[k]].claims++;
	m->counts[out]++;
	if (wrote_off)
		m->counts[OUT_WRITE_OFF]++;

	/* suggestions only where nothing was applied; the best few */
	if (applied == 0 && m->ncands > 0)
	{
		qsort_arg(m->cands, m->ncands, sizeof(Cand), cmp_cand, m);
		for (int k = 0; k < Min(m->ncands, MAX_SUGGESTIONS); k++)
		{
			SuggOut    *s;

			ENSURE_ROOM(m->suggs, m->nsuggs, m->capsuggs, SuggOut);
			s = &m->suggs[m->nsuggs++];
			s->payment_id = p->id;
			s->invoice_id = m->inv[m->cands[k].inv].id;
			s->score = m->cands[k].score;
			s->rule = m->cands[k].rule;
		}
	}
	if (p->was_suggested)
	{
		ENSURE_ROOM(m->resuggest, m->nresuggest, m->capresuggest, int64);
		m->resuggest[m->nresuggest++] = p->id;
	}

	status = applied == p->amount ? "matched" : applied > 0 ? "partial" :
		out == OUT_SUGGESTED ? "suggested" : "unmatched";
	if (strcmp(status, old_status) != 0)
	{
		PayOut	   *po;

		ENSURE_ROOM(m->pays, m->npays, m->cappays, PayOut);
		po = &m->pays[m->npays++];
		po->id = p->id;
		po->amount = p->amount;
		po->unallocated = p->amount - applied;
		po->status = status;
		po->old_status = old_status;
	}
}

/* Second pass: decide every payment in id order; write per batch. */
static void
match_all(Matcher *m)
{
	Portal		portal = spi_open(m, payment_query);
	SPITupleTable *tt;
	uint64		nrows;

	while ((tt = spi_fetch(portal, &nrows)) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(m->batch_cxt);
		instr_time	start;
		MPay	   *ps;
		int			n;

		INSTR_TIME_SET_CURRENT(start);
		m->batch_no++;
		n = read_payments(m, tt, nrows, &ps);
		find_closed_names(m, ps, n);
		for (int k = 0; k < n; k++)
			match_one(m, &ps[k]);
		m->ms_decide += ms_since(start);
		INSTR_TIME_SET_CURRENT(start);
		write_batch(m);
		m->ms_write += ms_since(start);
		MemoryContextSwitchTo(old);

		/* the batch's arrays lived in batch_cxt */
		MemoryContextReset(m->batch_cxt);
		m->allocs = NULL;
		m->pays = NULL;
		m->suggs = NULL;
		m->learns = NULL;
		m->touched = NULL;
		m->resuggest = NULL;
		m->capallocs = m->cappays = m->capsuggs = m->caplearns = m->captouched =
			m->capresuggest = 0;
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

/*
 * ar.match_payments(entity_id integer DEFAULT NULL)
 *		→ TABLE(rule text, payments bigint)
 *
 * Matches every unmatched payment (kind credit, status unmatched or
 * suggested) of the entity, or of all entities for NULL.  One row per
 * outcome, always all of them in a fixed order; write_off counts payments
 * whose match wrote off a shortfall and which are also counted under their
 * rule.
 */
PG_FUNCTION_INFO_V1(ar_match_payments);
Datum
ar_match_payments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Matcher    *m;
	MemoryContext cxt;
	MemoryContext old;
	instr_time	start;
	Size		peak;

	InitMaterializedSRF(fcinfo, 0);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ar.match_payments",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	m = palloc0(sizeof(Matcher));
	m->cxt = cxt;
	m->batch_cxt = AllocSetContextCreate(cxt, "ar.match_payments batch", ALLOCSET_DEFAULT_SIZES);
	m->closed_cxt = AllocSetContextCreate(cxt, "ar.match_payments text keys", ALLOCSET_DEFAULT_SIZES);
	m->one_entity = !PG_ARGISNULL(0);
	m->entity_id = m->one_entity ? PG_GETARG_INT32(0) : 0;
	{
		char		empty = '\0';

		arena_add(&m->str, &empty, 0);	/* offset 0 means none */
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);

	/* one run at a time; manual allocations wait until this one commits */
	spi_run("LOCK TABLE ar.allocation IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, NULL,
			SPI_OK_UTILITY);
	/* tables never analyzed (just restored) are, before anything is planned */
	spi_run("SELECT ar._analyze_unanalyzed()", 0, NULL, NULL, NULL, SPI_OK_SELECT);

	/*
	 * The reads below are read-only SPI calls, which use the active
	 * snapshot: the calling statement's, taken before the lock was waited
	 * for.  Read with one taken now, so that a run that waited for another
	 * (or for ar.allocate) sees what that one committed.  Under REPEATABLE
	 * READ and SERIALIZABLE this is the transaction's snapshot still, and a
	 * run that waited fails with a serialization failure, as it must.
	 */
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * Nothing to match (the scheduled run between two bank files): the open
	 * invoices are not loaded, which takes seconds with a million of them.
	 */
	INSTR_TIME_SET_CURRENT(start);
	load_entities(m);
	if (payments_waiting(m))
	{
		load_invoices(m);
		load_payers(m);
		spi_run("SELECT 1 FROM ar.match_suggestion LIMIT 1", 0, NULL, NULL, NULL, SPI_OK_SELECT);
		m->suggestions_exist = SPI_processed > 0;
		spi_run("SELECT 1 FROM ar.payment_extra_ref LIMIT 1", 0, NULL, NULL, NULL, SPI_OK_SELECT);
		m->extras_exist = SPI_processed > 0;
		m->ms_load = ms_since(start);

		INSTR_TIME_SET_CURRENT(start);
		count_claims(m);
		m->ms_claims = ms_since(start);

		match_all(m);
	}

	peak = MemoryContextMemAllocated(cxt, true);
	ereport(DEBUG1,
			(errmsg_internal("ar.match_payments: %lld payments, %d open invoices, %d customers, "
							 "%d payer accounts; %zu kB of memory; load %.0f ms, claims %.0f ms, "
							 "decide %.0f ms, write %.0f ms (payments %.0f, invoices %.0f, "
							 "allocations %.0f, the rest %.0f)",
							 (long long) m->npayments, m->ninv, m->ncust, m->npayer,
							 peak / 1024, m->ms_load, m->ms_claims, m->ms_decide,
							 m->ms_write, m->ms_payments, m->ms_invoices, m->ms_allocations,
							 m->ms_write - m->ms_payments - m->ms_invoices - m->ms_allocations)));

	PopActiveSnapshot();
	SPI_finish();

	MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	for (int k = 0; k < N_OUTCOMES; k++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(outcome_names[k]);
		values[1] = Int64GetDatum(m->counts[k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
