#!/bin/sh
# Creates, or brings up to date, the database roles OrderStream's processes
# log in as (docs/SECURITY.md, "Configuring auth in production"):
#
#   orderstream_api_login     member of orderstream_api     (DATABASE_URL of the API)
#   orderstream_worker_login  member of orderstream_worker  (DATABASE_URL of the worker)
#
# orderstream_api and orderstream_worker are the NOLOGIN roles that
# row-level security policies name; migration 000004 creates them too, so
# this script and the migrations may run in either order. Idempotent: run it
# on every deployment (compose runs it before the API and the worker).
#
# Environment: the libpq variables of a superuser or CREATEROLE role
# (PGHOST, PGUSER, PGPASSWORD, PGDATABASE), and API_DB_PASSWORD and
# WORKER_DB_PASSWORD, the passwords the logins get.
set -eu
: "${API_DB_PASSWORD:?set API_DB_PASSWORD}"
: "${WORKER_DB_PASSWORD:?set WORKER_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 -q \
  -v api_password="$API_DB_PASSWORD" -v worker_password="$WORKER_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', r) FROM unnest(ARRAY['orderstream_api', 'orderstream_worker']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB', r)
FROM unnest(ARRAY['orderstream_api_login', 'orderstream_worker_login']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE orderstream_api_login PASSWORD :'api_password';
ALTER ROLE orderstream_worker_login PASSWORD :'worker_password';
GRANT orderstream_api TO orderstream_api_login;
GRANT orderstream_worker TO orderstream_worker_login;
SQL
echo "db-roles: orderstream_api_login and orderstream_worker_login are ready"
