#!/bin/sh
# The official postgres image runs this once, on an empty data volume, as its superuser
# (POSTGRES_USER). It makes the two roles of backoffice/db_roles.py and hands them the database:
#   backoffice_owner  owns the schema; `manage.py migrate` connects as it (DATABASE_OWNER_URL)
#   backoffice_app    the web, workers and beat (DATABASE_URL); `migrate` grants it row privileges only
# Neither is a superuser. The superuser stays for the DBA alone; the application never uses it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="$BACKOFFICE_OWNER_PASSWORD" -v app_pw="$BACKOFFICE_APP_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE backoffice_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE backoffice_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
ALTER DATABASE :"db" OWNER TO backoffice_owner;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO backoffice_app;
SQL
