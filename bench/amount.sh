#!/usr/bin/env bash
# bench/amount.sh: ar.sum(ar.amount) against sum(bigint) and sum(numeric).
#
# One table of AR_BENCH_AMOUNT_ROWS (10,000,000) rows holding each value
# three times: a ar.amount (SEK), b bigint (its minor units), n numeric (its
# value, two decimals); values uniformly random from 1.00 to 100000.00 SEK,
# from a fixed seed.  The table is vacuumed, analyzed and read into
# shared_buffers.  Each of sum(a), sum(b), sum(n) over the whole table is
# then timed AR_BENCH_REPS (7) times, round-robin, after one untimed warm-up
# run, serially (max_parallel_workers_per_gather = 0) and with a parallel
# plan (= 2); best times are compared.  Times are server times (see
# bench/lib.sql).
#
# Fails (exit 1) when the three sums disagree, when a run reads a block from
# outside shared_buffers, or when the plans are not serial resp. parallel
# (Partial Aggregate, workers launched) where they must be.  Goals:
#   sum(a) within 1.5x of the time of sum(b),
#   sum(a) faster than sum(n);
# each judged on the worse of its serial and parallel ratio; a miss is
# printed, not failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROWS=${AR_BENCH_AMOUNT_ROWS:-10000000}
REPS=${AR_BENCH_REPS:-7}
DB=bench_amount
QA="SELECT sum(a) FROM amounts"
QB="SELECT sum(b) FROM amounts"
QN="SELECT sum(n) FROM amounts"
QUERIES=("$QA" "$QB" "$QN")
OUT=$(mktemp -d /tmp/ar-bench-amount.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

bench_db "$DB"
sql() { bench_sql "$DB" "$@"; }

# -- the table ---------------------------------------------------------------
start=$SECONDS
sql >/dev/null <<SQL
CREATE EXTENSION pg_prewarm;
CREATE EXTENSION pg_buffercache;
SELECT setseed(0.2026);
CREATE UNLOGGED TABLE amounts (a ar.amount NOT NULL, b bigint NOT NULL, n numeric NOT NULL);
INSERT INTO amounts
SELECT ar.amount_of_minor(u, 'SEK'), u, u * 0.01
FROM (SELECT 100 + floor(random() * 9999901)::bigint AS u
      FROM generate_series(1, $ROWS)) AS s;
SQL
sql -c "VACUUM ANALYZE amounts" >/dev/null
sql -c "SELECT pg_prewarm('amounts')" >/dev/null
IFS='|' read -r nrows size blocks cached < <(sql <<'SQL'
SELECT (SELECT count(*) FROM amounts),
       pg_size_pretty(pg_relation_size('amounts')),
       pg_relation_size('amounts') / current_setting('block_size')::int,
       (SELECT count(*) FROM pg_buffercache
         WHERE relfilenode = pg_relation_filenode('amounts') AND relforknumber = 0
           AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))
SQL
)
[ "$nrows" -eq "$ROWS" ] || fail "the table has $nrows rows, not $ROWS"
echo "table amounts: $nrows rows, $size ($blocks blocks, $cached in shared_buffers)," \
	"made in $((SECONDS - start)) s"
[ "$cached" -ge "$blocks" ] || fail "the table is not all in shared_buffers"
sql -c "SELECT a, b, n FROM amounts LIMIT 3" | sed 's/^/  sample: /; s/|/ | /g'

# -- plans -------------------------------------------------------------------
# bench_mode NAME: the SET that makes a mode.
mode_set() {
	case $1 in
	serial) echo "SET max_parallel_workers_per_gather = 0;" ;;
	parallel) echo "SET max_parallel_workers_per_gather = 2;" ;;
	esac
}

plan=$(sql -c "$(mode_set parallel)" -c "EXPLAIN (COSTS OFF) $QA")
grep -q 'Partial Aggregate' <<<"$plan" || { echo "$plan"; fail "no parallel plan for $QA"; }
plan=$(sql -c "$(mode_set serial)" -c "EXPLAIN (COSTS OFF) $QA")
! grep -q 'Gather' <<<"$plan" || { echo "$plan"; fail "a parallel plan for $QA in serial mode"; }

# The very runs that are timed go through PL/pgSQL's EXECUTE; auto_explain
# shows their plans (and buffer reads) once per query and mode, as a first
# warm-up run.
for mode in serial parallel; do
	for i in 0 1 2; do
		f="$OUT/plan.$mode.$i"
		sql >/dev/null 2>"$f" <<SQL
$(mode_set "$mode")
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_buffers = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SELECT * FROM bench.race(ARRAY[\$q\$${QUERIES[$i]}\$q\$], 1, 0);
SQL
		grep -q "Query Text: ${QUERIES[$i]}" "$f" || { cat "$f"; fail "no auto_explain plan of ${QUERIES[$i]}"; }
		if grep -E 'Buffers: .*shared.* read=' "$f"; then
			fail "$mode ${QUERIES[$i]} read blocks from outside shared_buffers"
		fi
		if [ "$mode" = parallel ]; then
			grep -q 'Partial Aggregate' "$f" && grep -qE 'Workers Launched: [1-9]' "$f" \
				|| { cat "$f"; fail "$mode ${QUERIES[$i]} did not run in parallel"; }
		else
			! grep -q 'Gather' "$f" || { cat "$f"; fail "$mode ${QUERIES[$i]} ran in parallel"; }
		fi
	done
done
echo "plan of $QA with a parallel plan, as timed (auto_explain, ANALYZE, TIMING OFF):"
awk -v q="Query Text: $QA" 'on && /NOTICE:/ { exit } on { print } $0 == q { on = 1 }' \
	"$OUT/plan.parallel.0" \
	| sed -E 's/  \(cost=[^)]*\)//; s/^/  /'

# -- timings -----------------------------------------------------------------
declare -A BEST MEDIAN RESULT
for mode in serial parallel; do
	sql >"$OUT/race.$mode" <<SQL || fail "the $mode timings failed"
$(mode_set "$mode")
SELECT ord, query, round(best_ms::numeric, 1), round(median_ms::numeric, 1), result
FROM bench.race(ARRAY[\$q\$$QA\$q\$, \$q\$$QB\$q\$, \$q\$$QN\$q\$], $REPS, 1);
SQL
	while IFS='|' read -r ord _query best median result; do
		BEST[$mode.$ord]=$best
		MEDIAN[$mode.$ord]=$median
		RESULT[$mode.$ord]=$result
	done <"$OUT/race.$mode"
	[ "$(wc -l <"$OUT/race.$mode")" -eq 3 ] || fail "the $mode timings gave: $(cat "$OUT/race.$mode")"
done

# -- the sums agree ----------------------------------------------------------
for mode in serial parallel; do
	ok=$(sql -v ra="${RESULT[$mode.1]}" -v rb="${RESULT[$mode.2]}" -v rn="${RESULT[$mode.3]}" <<'SQL'
SELECT ar.minor_units(:'ra'::ar.amount) = :'rb'::numeric
   AND ar.value_of(:'ra'::ar.amount) = :'rn'::numeric
   AND ar.currency_of(:'ra'::ar.amount) = 'SEK'
SQL
)
	[ "$ok" = t ] || fail "$mode sums disagree: sum(a) = ${RESULT[$mode.1]}," \
		"sum(b) = ${RESULT[$mode.2]}, sum(n) = ${RESULT[$mode.3]}"
done
for i in 1 2 3; do
	[ "${RESULT[serial.$i]}" = "${RESULT[parallel.$i]}" ] \
		|| fail "${QUERIES[$((i - 1))]}: ${RESULT[serial.$i]} serially, ${RESULT[parallel.$i]} in parallel"
done
echo "sums agree, serially and in parallel: sum(a) = ${RESULT[serial.1]}," \
	"sum(b) = ${RESULT[serial.2]}, sum(n) = ${RESULT[serial.3]}"

# -- report ------------------------------------------------------------------
echo
printf '%-28s %23s %17s %17s\n' "" "best ms of $REPS runs" "ratio vs bigint" "ratio vs numeric"
printf '%-28s %11s %11s %8s %8s %8s %8s\n' query serial parallel serial parallel serial parallel
for i in 1 2 3; do
	printf '%-28s %11s %11s %8s %8s %8s %8s\n' "${QUERIES[$((i - 1))]}" \
		"${BEST[serial.$i]}" "${BEST[parallel.$i]}" \
		"$(bench_ratio "${BEST[serial.$i]}" "${BEST[serial.2]}")" \
		"$(bench_ratio "${BEST[parallel.$i]}" "${BEST[parallel.2]}")" \
		"$(bench_ratio "${BEST[serial.$i]}" "${BEST[serial.3]}")" \
		"$(bench_ratio "${BEST[parallel.$i]}" "${BEST[parallel.3]}")"
done
printf '%-28s %11s %11s\n' "(median ms, sum(a))" "${MEDIAN[serial.1]}" "${MEDIAN[parallel.1]}"
printf '%-28s %11s %11s\n' "(median ms, sum(b))" "${MEDIAN[serial.2]}" "${MEDIAN[parallel.2]}"
printf '%-28s %11s %11s\n' "(median ms, sum(n))" "${MEDIAN[serial.3]}" "${MEDIAN[parallel.3]}"
echo

worse() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", (x > y ? x : y) }'; }
vs_b=$(worse "$(bench_ratio "${BEST[serial.1]}" "${BEST[serial.2]}")" \
	"$(bench_ratio "${BEST[parallel.1]}" "${BEST[parallel.2]}")")
vs_n=$(worse "$(bench_ratio "${BEST[serial.1]}" "${BEST[serial.3]}")" \
	"$(bench_ratio "${BEST[parallel.1]}" "${BEST[parallel.3]}")")
bench_goal "within 1.5x of bigint" "$vs_b" 1.5 le
bench_goal "faster than numeric" "$vs_n" 1.0 lt
