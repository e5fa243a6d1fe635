-- The help desk's database and its two roles. Run by a superuser with psql;
-- safe to run again. `make run` and `make test` run it on their own server
-- at every start, the Compose Postgres on its first start.
--
-- helpdesk_owner owns the database and every table, and runs `manage.py
-- migrate` (MIGRATE_DATABASE_URL); migrate grants the app's role what it
-- needs. helpdesk is the app's role (DATABASE_URL): it owns nothing, so it
-- cannot turn a table's row-level security off. Neither is a superuser nor
-- BYPASSRLS: those skip row-level security. The Compose Postgres publishes
-- no port; change the passwords before you let anything else reach it.

SELECT 'CREATE ROLE helpdesk_owner'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'helpdesk_owner')
\gexec
-- CREATEDB: the test database is made and dropped by the owner.
ALTER ROLE helpdesk_owner LOGIN PASSWORD 'helpdesk_owner' CREATEDB NOCREATEROLE NOSUPERUSER NOBYPASSRLS;

SELECT 'CREATE ROLE helpdesk'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'helpdesk')
\gexec
ALTER ROLE helpdesk LOGIN PASSWORD 'helpdesk' NOCREATEDB NOCREATEROLE NOSUPERUSER NOBYPASSRLS;

SELECT 'CREATE DATABASE helpdesk OWNER helpdesk_owner'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'helpdesk')
\gexec

\c helpdesk
-- Before there were two roles the app's role owned the database and its
-- tables: hand them to the owner (a no-op once done).
REASSIGN OWNED BY helpdesk TO helpdesk_owner;
