-- What PostGraphile needs to serve the bank credit query (bench/README.md) from the bench's
-- throwaway database; bench/run.py applies it there after `xinzheng seed`, never elsewhere.
--
-- Subjects are linked to their score, penalties and licences by (holder_kind, holder_id), not
-- by a foreign key, so PostGraphile sees no relation: these computed-column functions give it
-- one. PostGraphile v4 only takes a computed column from the table's own schema, so they are in
-- `public`, beside the tables. They are STABLE SQL functions the planner can inline into the
-- one statement PostGraphile writes per query. The rules are those of app/domain/rules.py:
--   * a bank sees the penalties decided within 5 years (征信业管理条例 art. 16), counted from
--     today in the city's time zone (UTC+8, app/clock.py);
--   * publishUntil is decided_on + 12 months (GENERAL) or 36 months (SERIOUS), none for MINOR;
--     PostgreSQL's date + interval 'n months' clamps to the month's last day as add_months does;
--   * a VALID licence past its valid_to reads as EXPIRED;
--   * money is stored in fen; the API writes yuan with two decimals.
-- The authority's name comes through the foreign key authority_code -> authorities.code, which
-- PostGraphile follows by itself (authorityByAuthorityCode).

CREATE FUNCTION bench_today() RETURNS date
    LANGUAGE sql STABLE
    AS $$ SELECT (now() AT TIME ZONE INTERVAL '+08:00')::date $$;

CREATE FUNCTION persons_credit_score(p persons) RETURNS credit_scores
    LANGUAGE sql STABLE
    AS $$
        SELECT s.* FROM credit_scores s WHERE s.holder_kind = 'PERSON' AND s.holder_id = p.id_number
    $$;

CREATE TYPE credit_factor AS (code text, description text, impact integer);

-- factors is a JSON column (a list of {code, description, impact}); as rows, a GraphQL client
-- can pick their fields as it does from the service.
CREATE FUNCTION credit_scores_factor(s credit_scores) RETURNS SETOF credit_factor
    LANGUAGE sql STABLE
    AS $$
        SELECT e.f ->> 'code', e.f ->> 'description', (e.f ->> 'impact')::integer
        FROM json_array_elements(s.factors) WITH ORDINALITY AS e(f, n)
        ORDER BY e.n
    $$;

CREATE FUNCTION persons_penalties(p persons) RETURNS SETOF penalties
    LANGUAGE sql STABLE
    AS $$
        SELECT x.* FROM penalties x
        WHERE x.holder_kind = 'PERSON' AND x.holder_id = p.id_number
          AND x.decided_on > (bench_today() - INTERVAL '5 years')::date
        ORDER BY x.decided_on DESC, x.decision_number
    $$;

CREATE FUNCTION penalties_publish_until(x penalties) RETURNS date
    LANGUAGE sql STABLE
    AS $$
        SELECT CASE x.severity
            WHEN 'GENERAL' THEN (x.decided_on + INTERVAL '12 months')::date
            WHEN 'SERIOUS' THEN (x.decided_on + INTERVAL '36 months')::date
        END
    $$;

CREATE FUNCTION penalties_amount_yuan(x penalties) RETURNS numeric
    LANGUAGE sql STABLE
    AS $$ SELECT round(x.amount / 100.0, 2) $$;

CREATE FUNCTION persons_licences(p persons) RETURNS SETOF licences
    LANGUAGE sql STABLE
    AS $$
        SELECT l.* FROM licences l
        WHERE l.holder_kind = 'PERSON' AND l.holder_id = p.id_number
        ORDER BY l.decided_on DESC, l.decision_number
    $$;

CREATE FUNCTION licences_current_status(l licences) RETURNS text
    LANGUAGE sql STABLE
    AS $$
        SELECT CASE WHEN l.status = 'VALID' AND l.valid_to < bench_today() THEN 'EXPIRED' ELSE l.status END
    $$;

COMMENT ON FUNCTION bench_today() IS E'@omit\nToday in the city''s time zone, for the functions above; not a field of the API.';
