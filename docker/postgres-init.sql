-- Ticket search under row-level security needs its match operator LEAKPROOF
-- (README, "Search"). Set in template1 first, so every database made from it,
-- the app's and the test database alike, has it.
\c template1
ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
\c postgres

-- The app's role owns its database but is no superuser and cannot bypass RLS.
CREATE ROLE helpdesk LOGIN PASSWORD 'helpdesk' CREATEDB NOSUPERUSER NOBYPASSRLS;
CREATE DATABASE helpdesk OWNER helpdesk;
