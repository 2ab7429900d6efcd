#!/bin/sh
# First start of the compose stack's PostgreSQL only (docker-entrypoint-initdb.d):
# the application's own role and database, so that awdaflow never connects
# as the superuser Temporal's schema tool uses.
set -eu
: "${AWDAFLOW_DB_PASSWORD:?set AWDAFLOW_DB_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	--set=pw="$AWDAFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE awdaflow LOGIN PASSWORD :'pw';
CREATE DATABASE awdaflow OWNER awdaflow;
SQL
