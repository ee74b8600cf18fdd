-- How much writing an event per status change costs PostgreSQL, four ways, on a
-- messages-like table of 300,000 rows: 100 updates of 1,000 rows each, per way.
-- Run in a scratch database:  psql -d scratch -f bench/event_triggers.sql
-- Prints four timings: bare, events by a CTE, a statement trigger, a row trigger.
\set QUIET on
DROP TABLE IF EXISTS bench_m, bench_ev;
DROP FUNCTION IF EXISTS bench_ev_stmt(), bench_ev_row();
CREATE TABLE bench_m (id bigserial PRIMARY KEY, account_id bigint, status text,
    upd timestamptz, error_code text, content text);
CREATE INDEX ON bench_m (account_id, id);
INSERT INTO bench_m (account_id, status, upd, content)
    SELECT g % 10, 'queued', now(), repeat('x', 160) FROM generate_series(1, 400000) g;
CREATE TABLE bench_ev (id bigserial PRIMARY KEY, account_id bigint, type text,
    message_id bigint, error_code text, created_at timestamptz,
    txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint));
CREATE INDEX ON bench_ev (txid, id);
VACUUM ANALYZE bench_m;
CREATE FUNCTION bench_ev_stmt() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
    INSERT INTO bench_ev (account_id, type, message_id, error_code, created_at)
    SELECT n.account_id, 'message.' || n.status, n.id, NULL, n.upd
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status <> o.status AND n.status IN ('sent', 'delivered', 'failed', 'canceled')
    ORDER BY n.id;
    RETURN NULL; END $f$;
CREATE FUNCTION bench_ev_row() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
    INSERT INTO bench_ev (account_id, type, message_id, error_code, created_at)
    VALUES (NEW.account_id, 'message.' || NEW.status, NEW.id, NULL, NEW.upd);
    RETURN NULL; END $f$;
\timing on
\echo bare
DO $$ DECLARE i int; BEGIN FOR i IN 0..99 LOOP
    UPDATE bench_m SET status = 'sent', upd = now()
    FROM unnest(ARRAY(SELECT generate_series(i * 1000 + 1, i * 1000 + 1000)::bigint)) v(mid)
    WHERE bench_m.id = v.mid AND bench_m.status IN ('queued', 'sending');
END LOOP; END $$;
\echo events by a CTE in the same statement
DO $$ DECLARE i int; BEGIN FOR i IN 100..199 LOOP
    WITH moved AS (
        UPDATE bench_m SET status = 'sent', upd = now()
        FROM unnest(ARRAY(SELECT generate_series(i * 1000 + 1, i * 1000 + 1000)::bigint)) v(mid)
        WHERE bench_m.id = v.mid AND bench_m.status IN ('queued', 'sending')
        RETURNING bench_m.id, bench_m.account_id, bench_m.upd)
    INSERT INTO bench_ev (account_id, type, message_id, created_at)
    SELECT account_id, 'message.sent', id, upd FROM moved;
END LOOP; END $$;
CREATE TRIGGER bench_t1 AFTER UPDATE ON bench_m REFERENCING OLD TABLE AS old_rows
    NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_ev_stmt();
\echo a statement trigger (transition tables), as migration 0008
DO $$ DECLARE i int; BEGIN FOR i IN 200..299 LOOP
    UPDATE bench_m SET status = 'sent', upd = now()
    FROM unnest(ARRAY(SELECT generate_series(i * 1000 + 1, i * 1000 + 1000)::bigint)) v(mid)
    WHERE bench_m.id = v.mid AND bench_m.status IN ('queued', 'sending');
END LOOP; END $$;
DROP TRIGGER bench_t1 ON bench_m;
CREATE TRIGGER bench_t2 AFTER UPDATE OF status ON bench_m FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('sent', 'delivered', 'failed', 'canceled'))
    EXECUTE FUNCTION bench_ev_row();
\echo a row trigger
DO $$ DECLARE i int; BEGIN FOR i IN 300..399 LOOP
    UPDATE bench_m SET status = 'sent', upd = now()
    FROM unnest(ARRAY(SELECT generate_series(i * 1000 + 1, i * 1000 + 1000)::bigint)) v(mid)
    WHERE bench_m.id = v.mid AND bench_m.status IN ('queued', 'sending');
END LOOP; END $$;
\timing off
DROP TABLE bench_m, bench_ev;
DROP FUNCTION bench_ev_stmt(), bench_ev_row();
