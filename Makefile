# ar: accounts receivable inside PostgreSQL (PGXS)

EXTENSION = ar
EXTVERSION = 1.0
MODULE_big = ar
OBJS = \
	src/ar.o \
	src/currency.o \
	src/amount.o \
	src/amount_ops.o \
	src/status.o \
	src/refs.o \
	src/numbering.o \
	src/issue.o \
	src/ubl.o \
	src/peppol.o \
	src/audit.o \
	src/restore.o \
	src/guard.o \
	src/camt.o \
	src/bgmax.o \
	src/match.o \
	src/worker.o

DATA = ar--1.0.sql

REGRESS = amount amount_ops status refs invoice order_credit outbox allocation ubl audit security bank_import match match_refs guard issue_rules issue_dates dunning kpi job
REGRESS_OPTS = --load-extension=ar

PG_CONFIG ?= pg_config
XML2_CONFIG ?= xml2-config

# The server headers are read as system headers (-isystem wins over PGXS's
# -I), so that -Wextra judges ar's own code and not PostgreSQL's inline
# functions, some of which leave parameters unused.
PG_CPPFLAGS += -I$(srcdir)/src -isystem $(shell $(PG_CONFIG) --includedir-server) \
	$(shell $(XML2_CONFIG) --cflags 2>/dev/null)
PG_CFLAGS += -Wall -Wextra -Werror
SHLIB_LINK += $(shell $(XML2_CONFIG) --libs 2>/dev/null || echo -lxml2)

EXTRA_CLEAN = results regression.diffs regression.out

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

# ---------------------------------------------------------------------------
# The two README commands, and benchmarks.  Run as root on a fresh Debian 12
# machine they install what is missing first.
# ---------------------------------------------------------------------------
.PHONY: deps demo test bench

deps:
	@bash test/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory install >/dev/null
	@bash test/demo/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory install >/dev/null
	@bash test/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory install >/dev/null
	@bash bench/run.sh
