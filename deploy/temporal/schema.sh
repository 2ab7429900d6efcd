#!/bin/sh
# Creates or upgrades Temporal's two PostgreSQL databases (run by the
# temporal-schema service of docker-compose.yml in temporalio/admin-tools).
# Idempotent: `create` fails harmlessly when the database exists,
# `setup-schema -v 0.0` skips a database already past 0.0, and
# `update-schema` applies only the versions not applied yet.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT=${DB_PORT:-5432}
SCHEMA=/etc/temporal/schema/postgresql/v12

i=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || { echo "PostgreSQL $POSTGRES_SEEDS:$PORT unreachable" >&2; exit 1; }
	sleep 2
done

sqltool() {
	temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}
for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
	db=${pair%%:*}
	dir=$SCHEMA/${pair#*:}/versioned
	sqltool --db "$db" create 2>/dev/null && echo "created database $db" || echo "database $db exists"
	sqltool --db "$db" setup-schema -v 0.0
	sqltool --db "$db" update-schema -d "$dir"
done
echo "Temporal schema is current"
