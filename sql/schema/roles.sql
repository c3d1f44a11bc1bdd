-- Roles and the schema's privileges. Roles are cluster-wide: created once,
-- kept across DROP EXTENSION.

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_reader') THEN
		CREATE ROLE credits_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_app') THEN
		CREATE ROLE credits_app NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_owner') THEN
		CREATE ROLE credits_owner NOLOGIN;
	END IF;
	-- the aggregates monitoring reads (granted to the exporter's login)
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'credits_monitor') THEN
		CREATE ROLE credits_monitor NOLOGIN;
	END IF;
END
$roles$;
GRANT credits_app TO credits_owner;
GRANT credits_reader TO credits_owner;
GRANT credits_monitor TO credits_owner;

REVOKE ALL ON SCHEMA credits FROM PUBLIC;
GRANT USAGE ON SCHEMA credits TO credits_reader, credits_app, credits_owner;
GRANT USAGE ON SCHEMA credits TO credits_monitor;
