# test/lib.sh: shared shell helpers of the test, demo and bench scripts.
# Source it; it starts and stops throwaway clusters with ar preloaded.

AR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-$( [ -x /usr/lib/postgresql/15/bin/pg_config ] && echo /usr/lib/postgresql/15/bin/pg_config || echo pg_config)}
PGBIN=$("$PG_CONFIG" --bindir)
export PATH="$PGBIN:$PATH"

# Run a command as the cluster owner: postgres refuses to run as root.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cluster_start DIR [postgresql.conf lines...]
# Creates and starts a cluster in DIR/data, reachable only through a Unix
# socket in DIR, and exports PGHOST, PGPORT, PGUSER, PGDATA for clients.
cluster_start() {
	local dir=$1; shift
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		# the owner must reach DIR through a mktemp -d parent (mode 700)
		chmod o+x "$(dirname "$dir")"
	fi
	chmod 755 "$dir"
	as_owner initdb -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
		|| { cat "$dir/initdb.log"; return 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "port = 5432"
		echo "shared_preload_libraries = 'ar'"
		echo "max_connections = 100"
		echo "log_min_messages = warning"
		echo "logging_collector = off"
		for line in "$@"; do echo "$line"; done
	} | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
	export PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATA=$dir/data
	cluster_pg_ctl start
}

cluster_pg_ctl() {
	as_owner pg_ctl -D "$PGDATA" -w -t 120 -l "$PGHOST/server.log" "$@" >/dev/null \
		|| { echo "pg_ctl $* failed; server log:" >&2; tail -n 40 "$PGHOST/server.log" >&2; return 1; }
}

cluster_stop() {
	[ -n "${PGDATA:-}" ] && [ -f "$PGDATA/postmaster.pid" ] && cluster_pg_ctl stop -m fast || true
}

# A new database with ar (and the schema on its search_path).
make_db() {
	local db=$1
	psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
	psql -X -q -d "$db" -c "CREATE EXTENSION ar" \
		-c "ALTER DATABASE $db SET search_path = \"\$user\", public, ar" >/dev/null
}
