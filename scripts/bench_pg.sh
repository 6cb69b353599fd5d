# bench_pg.sh: sourced by scripts/bench_server.sh and scripts/bench_jobs.sh
# (from the repository root). The caller defines die and clears PG_DIR
# and PG_BIN before its cleanup trap may call stop_postgres.

# start_postgres: a throw-away cluster on a free loopback port, fsync off
# (as the test harness, internal/testtools), as the postgres user when root.
as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_postgres() {
	PG_BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")"
	[ -x "$PG_BIN/initdb" ] || die "PostgreSQL server binaries not found; run make deps"
	local base
	base="$(mktemp -d "${TMPDIR:-/tmp}/drmpipe-bench-pg.XXXXXX")"
	chmod 0777 "$base"
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$base"
	PG_DIR="$base/data"
	as_postgres "$PG_BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
	PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
	as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR" -w -t 30 -l "$base/log" \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$base -c fsync=off" start >/dev/null
	PG_DSN="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
	PG_VERSION="$("$PG_BIN/postgres" --version | awk '{ print $3 }')"
}
stop_postgres() {
	if [ -n "$PG_DIR" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w stop >/dev/null 2>&1 || true
		rm -rf "$(dirname "$PG_DIR")"
		PG_DIR=""
	fi
}
