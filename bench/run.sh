#!/usr/bin/env bash
# bench/run.sh [NAME...]: what `make bench` runs.  Starts a throwaway cluster
# with ar preloaded and benchmark settings, then runs the benchmarks
# bench/NAME.sh in the order of BENCHMARKS below (or only those named, in
# the order given: `bash bench/run.sh amount`).  Each benchmark makes its own
# database and prints its own report; a goal it misses is printed, not
# failed.  Exits non-zero when a benchmark fails (a wrong result, a plan
# that is not what it must be, an error).
set -uo pipefail
source "$(dirname "$0")/../test/lib.sh"
cd "$AR_ROOT"

# The benchmarks, in the order they run.  To add one, write bench/NAME.sh
# (source bench/lib.sh; make a database with bench_db) and list NAME here.
BENCHMARKS=(amount issue match ubl scale)

# Benchmark settings: the tables of a benchmark fit in shared_buffers (a
# table under a quarter of it, so that sequential scans do not go through a
# small ring of buffers; bench/match touches 2.7 GB, its audit trail
# included, so 8 GB, or a third of the RAM where that is less), no JIT (it adds a
# planning-dependent, noisy cost to queries of this size), no autovacuum
# running in the middle of a timing, and no checkpoint forced by WAL volume
# in the middle of one (bench/match writes about 3.5 GB of WAL).
SHARED_MB=$(awk '/MemTotal/ { mb = int($2 / 1024 / 3); print (mb < 8192 ? mb : 8192) }' /proc/meminfo)
BENCH_CONF=(
	"shared_buffers = ${SHARED_MB}MB"
	"work_mem = 64MB"
	"maintenance_work_mem = 512MB"
	"max_worker_processes = 8"
	"max_parallel_workers = 8"
	"max_parallel_workers_per_gather = 2"
	"jit = off"
	"autovacuum = off"
	"max_wal_size = 16GB"
	"checkpoint_timeout = 30min"
)

if [ $# -gt 0 ]; then
	names=("$@")
else
	names=("${BENCHMARKS[@]}")
fi
for name in "${names[@]}"; do
	if [ ! -f "bench/$name.sh" ] || [[ " ${BENCHMARKS[*]} " != *" $name "* ]]; then
		echo "bench: no benchmark '$name'; there are: ${BENCHMARKS[*]}" >&2
		exit 2
	fi
done

TMP=$(mktemp -d /tmp/ar-bench.XXXXXX)
trap 'cluster_stop; rm -rf "$TMP"' EXIT
cluster_start "$TMP/pg" "${BENCH_CONF[@]}" || exit 1

echo "== ar benchmarks: ${names[*]}"
echo "server:   $(psql -X -At -d postgres -c 'SHOW server_version')," \
	"$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))," \
	"$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "settings: $(printf '%s, ' "${BENCH_CONF[@]}" | sed 's/, $//; s/ = /=/g')"

failed=()
for name in "${names[@]}"; do
	echo
	echo "== bench/$name"
	start=$SECONDS
	if bash "bench/$name.sh"; then
		echo "-- bench/$name done in $((SECONDS - start)) s"
	else
		echo "-- bench/$name FAILED after $((SECONDS - start)) s"
		failed+=("$name")
	fi
done

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: ${#names[@]} run, ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
echo "bench: ${#names[@]} run, none failed"
