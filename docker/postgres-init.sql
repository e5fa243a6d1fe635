-- The app's role owns its database but is no superuser and cannot bypass RLS.
CREATE ROLE helpdesk LOGIN PASSWORD 'helpdesk' CREATEDB NOSUPERUSER NOBYPASSRLS;
CREATE DATABASE helpdesk OWNER helpdesk;
