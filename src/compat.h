/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PG_VERSION_NUM guard of ar lives here and nowhere else.
 *
 * ar is built and tested against PostgreSQL 15 (Debian's
 * postgresql-server-dev-15).  The shims below keep the rest of the code
 * free of version conditionals, in the manner of pgvector's vector.h.
 *
 * src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef AR_COMPAT_H
#define AR_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "ar needs PostgreSQL 15 or later"
#endif

/* Module magic: PG 18 can carry the name and version. */
#if PG_VERSION_NUM >= 180000
#define AR_MODULE_MAGIC PG_MODULE_MAGIC_EXT(.name = "ar", .version = "1.0")
#else
#define AR_MODULE_MAGIC PG_MODULE_MAGIC
#endif

/*
 * Soft errors from input functions.  PG 16 added ereturn() so that input
 * functions can report bad input to a caller that asked for it (for example
 * pg_input_is_valid); before that every input error is a hard ERROR.
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#define AR_ERETURN(context, dummy, ...) ereturn(context, dummy, __VA_ARGS__)
#else
#define AR_ERETURN(context, dummy, ...) \
	do { \
		(void) (context); \
		ereport(ERROR, __VA_ARGS__); \
		return dummy; \
	} while (0)
#endif

#endif							/* AR_COMPAT_H */
