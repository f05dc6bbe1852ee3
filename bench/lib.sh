# bench/lib.sh: helpers of the benchmark scripts bench/NAME.sh.  Source it.
# bench/run.sh has started the cluster and exported PGHOST, PGPORT, PGUSER
# and PGDATA; this adds the psql wrappers and the timing functions.

source "$(dirname "${BASH_SOURCE[0]}")/../test/lib.sh"

# bench_db NAME: a new database with ar, and bench/lib.sql in schema bench.
bench_db() {
	make_db "$1" || return 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$AR_ROOT/bench/lib.sql" >/dev/null
}

# bench_sql DB [psql args...]: unaligned, tuples only, '|'-separated, stop on
# the first error.
bench_sql() {
	local db=$1; shift
	psql -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# bench_ratio X Y: X / Y with two decimals.
bench_ratio() {
	awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'
}

# bench_goal TEXT RATIO LIMIT [lt|le]: prints "goal: TEXT: PASS (r.rr)" when
# RATIO < LIMIT (lt) or <= LIMIT (le, the default), else MISS, loudly.  A
# miss is reported, not failed: benchmarks are not tests.
bench_goal() {
	local text=$1 ratio=$2 limit=$3 op=${4:-le} ok
	ok=$(awk -v r="$ratio" -v l="$limit" -v op="$op" \
		'BEGIN { print ((op == "lt" ? r < l : r <= l) ? "PASS" : "MISS") }')
	if [ "$ok" = PASS ]; then
		echo "goal: $text: PASS ($ratio)"
	else
		echo "goal: $text: MISS ($ratio)   <<<<<<<<<< MISSED"
	fi
}

# goal_min TEXT RATIO LIMIT: bench_goal's report for a ratio that must be at
# least LIMIT (a speed-up, a share).
goal_min() {
	local text=$1 ratio=$2 limit=$3 ok
	ok=$(awk -v r="$ratio" -v l="$limit" 'BEGIN { print (r >= l ? "PASS" : "MISS") }')
	if [ "$ok" = PASS ]; then
		echo "goal: $text: PASS ($ratio)"
	else
		echo "goal: $text: MISS ($ratio)   <<<<<<<<<< MISSED"
	fi
}

# fail TEXT: a benchmark that cannot be trusted stops (a wrong result, an error).
fail() { echo "FAIL: $*" >&2; exit 1; }
