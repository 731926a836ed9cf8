"""The one-roof schema: every canonical table, versioned.

Why versioned migrations instead of `CREATE TABLE IF NOT EXISTS` alone: a user's store file
outlives a release. Each entry of MIGRATIONS moves a file from version N-1 to N inside one
transaction, and `schema_meta.schema_version` records where a file stands, so a later
release can add columns or tables to an existing file without losing a row.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from revline.store.rows import scalar

# Version 1: the canonical tables. Money is DECIMAL plus a currency column; times are UTC
# TIMESTAMP (naive, always UTC by convention of the ingest layer).
_V1 = [
    """
    CREATE TABLE IF NOT EXISTS accounts (
        account_id VARCHAR PRIMARY KEY,
        name VARCHAR,
        domain VARCHAR,
        industry VARCHAR,
        employees INTEGER,
        annual_revenue DECIMAL(18, 2),
        country VARCHAR,
        created_at TIMESTAMP,
        source_system VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS people (
        person_id VARCHAR PRIMARY KEY,
        account_id VARCHAR,
        email VARCHAR,
        first_name VARCHAR,
        last_name VARCHAR,
        title VARCHAR,
        created_at TIMESTAMP,
        source_system VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS identities (
        identity_type VARCHAR NOT NULL,   -- anonymous_id, user_id, email, crm_lead_id, crm_contact_id
        identity_value VARCHAR NOT NULL,
        person_id VARCHAR,
        first_seen_at TIMESTAMP,
        source_system VARCHAR,
        PRIMARY KEY (identity_type, identity_value)
    )""",
    """
    CREATE TABLE IF NOT EXISTS identity_links (
        -- an observed edge of the identity graph: both ends are the same person
        left_type VARCHAR NOT NULL,
        left_value VARCHAR NOT NULL,
        right_type VARCHAR NOT NULL,
        right_value VARCHAR NOT NULL,
        source VARCHAR,                 -- 'segment:identify', 'salesforce:lead_conversion', 'segment:alias', ...
        observed_at TIMESTAMP,
        PRIMARY KEY (left_type, left_value, right_type, right_value)
    )""",
    """
    CREATE TABLE IF NOT EXISTS touchpoints (
        touchpoint_id VARCHAR PRIMARY KEY,
        occurred_at TIMESTAMP NOT NULL,
        person_id VARCHAR,
        anonymous_id VARCHAR,
        account_id VARCHAR,
        channel VARCHAR NOT NULL,
        source VARCHAR,
        medium VARCHAR,
        campaign_id VARCHAR,
        touch_type VARCHAR,       -- page_view, form_fill, content_download, email_click, webinar, event, call, meeting, ...
        is_offline BOOLEAN NOT NULL DEFAULT FALSE,
        source_system VARCHAR,
        source_ref VARCHAR,       -- id of the source row (Segment messageId, CampaignMember Id, Task Id)
        identity_type VARCHAR,    -- the identity the touch was observed under (anonymous_id, user_id,
        identity_value VARCHAR    -- crm_contact_id, crm_lead_id, email); stitching resolves person_id
    )""",
    """
    CREATE TABLE IF NOT EXISTS campaigns (
        campaign_id VARCHAR PRIMARY KEY,
        name VARCHAR,
        channel VARCHAR,
        campaign_type VARCHAR,
        parent_id VARCHAR,
        start_date DATE,
        end_date DATE,
        budgeted_cost DECIMAL(18, 2),
        actual_cost DECIMAL(18, 2),
        source_system VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS spend (
        date DATE NOT NULL,
        channel VARCHAR NOT NULL,
        campaign_id VARCHAR NOT NULL DEFAULT '',
        spend DECIMAL(18, 2) NOT NULL,
        impressions BIGINT,
        clicks BIGINT,
        currency VARCHAR NOT NULL DEFAULT 'USD',
        PRIMARY KEY (date, channel, campaign_id)
    )""",
    """
    CREATE TABLE IF NOT EXISTS opportunities (
        opportunity_id VARCHAR PRIMARY KEY,
        account_id VARCHAR,
        name VARCHAR,
        revenue_type VARCHAR,     -- new_business, renewal, expansion, contraction
        type_raw VARCHAR,         -- the org's own picklist value, kept for audit
        stage VARCHAR,
        amount DECIMAL(18, 2),
        currency VARCHAR NOT NULL DEFAULT 'USD',
        probability DOUBLE,       -- 0..1; weighted (fractional) pipeline
        created_at TIMESTAMP,
        closed_at TIMESTAMP,
        is_closed BOOLEAN,
        is_won BOOLEAN,
        campaign_id VARCHAR,      -- primary campaign source, as the CRM records it
        source_system VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS opportunity_contacts (
        opportunity_id VARCHAR NOT NULL,
        person_id VARCHAR NOT NULL,
        role VARCHAR,
        is_primary BOOLEAN,
        PRIMARY KEY (opportunity_id, person_id)
    )""",
    """
    CREATE TABLE IF NOT EXISTS stage_events (
        object_type VARCHAR NOT NULL,   -- person, account, opportunity
        object_id VARCHAR NOT NULL,
        stage VARCHAR NOT NULL,         -- lead, mql, sql, opportunity, won, lost, renewal, expansion, churn
        entered_at TIMESTAMP NOT NULL,
        source_system VARCHAR,
        PRIMARY KEY (object_type, object_id, stage, entered_at)
    )""",
    """
    CREATE TABLE IF NOT EXISTS targets (
        period_start DATE NOT NULL,
        period_end DATE NOT NULL,
        segment VARCHAR NOT NULL DEFAULT 'all',
        revenue_target DECIMAL(18, 2),
        pipeline_target DECIMAL(18, 2),
        PRIMARY KEY (period_start, period_end, segment)
    )""",
    """
    CREATE TABLE IF NOT EXISTS quarantine (
        source VARCHAR NOT NULL,        -- file path (or 'collector')
        table_name VARCHAR,             -- canonical table the row was meant for
        row_number BIGINT,              -- 1-based data row number in the source file
        field VARCHAR,
        reason VARCHAR NOT NULL,
        raw VARCHAR,                    -- the row as read, JSON
        ingested_at TIMESTAMP NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS events (
        message_id VARCHAR PRIMARY KEY, -- Segment messageId: dedupes retries and re-ingests
        type VARCHAR NOT NULL,          -- track, page, identify, group, alias
        event VARCHAR,
        anonymous_id VARCHAR,
        user_id VARCHAR,
        group_id VARCHAR,
        previous_id VARCHAR,
        occurred_at TIMESTAMP NOT NULL,
        received_at TIMESTAMP,
        properties JSON,
        traits JSON,
        context JSON,
        source VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS milestones (
        object_type VARCHAR NOT NULL,   -- person, account, opportunity
        object_id VARCHAR NOT NULL,
        account_id VARCHAR,
        person_id VARCHAR,
        opportunity_id VARCHAR,
        milestone VARCHAR NOT NULL,     -- first_touch, lead, mql, sql, opportunity, won, lost, renewal, expansion, churn
        occurred_at TIMESTAMP NOT NULL,
        touchpoint_id VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS credit_ledger (
        model VARCHAR NOT NULL,
        opportunity_id VARCHAR NOT NULL, -- the converting object: an opportunity, or for lead/mql/sql
                                         -- milestones the person or account (see conversion_type)
        conversion_type VARCHAR NOT NULL DEFAULT 'opportunity', -- opportunity, person, account
        touchpoint_id VARCHAR,          -- NULL: the opportunity had no eligible touch (unattributed)
        milestone VARCHAR NOT NULL,
        credit DOUBLE NOT NULL,
        revenue_credit DOUBLE NOT NULL,
        revenue_type VARCHAR,
        channel VARCHAR NOT NULL,       -- '(unattributed)' when touchpoint_id is NULL
        campaign_id VARCHAR,
        touch_position VARCHAR,         -- FT, LC, OC, CW, or NULL for the touches in between
        occurred_at TIMESTAMP,
        run_id VARCHAR NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS attribution_runs (
        run_id VARCHAR PRIMARY KEY,
        model VARCHAR NOT NULL,
        milestone VARCHAR NOT NULL,
        revenue_type VARCHAR,
        params JSON,
        opportunities BIGINT,
        unattributed BIGINT,
        created_at TIMESTAMP NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS ingest_log (
        file_sha256 VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        rows_read BIGINT,
        rows_loaded BIGINT,
        rows_quarantined BIGINT,
        ingested_at TIMESTAMP NOT NULL
    )""",
]

# Each migration: (target_version, list of SQL statements). Append, never edit a shipped one.
# Version 2 (api/): keys of `revline serve`, kept so a generated key survives a restart.
_V2 = [
    """
    CREATE TABLE IF NOT EXISTS api_keys (
        kind VARCHAR PRIMARY KEY,       -- write (collector, public) or read (reports, secret)
        key VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    )""",
]

# Version 3 (ingest/): touchpoints without the PRIMARY KEY index. Why: on million-event Segment
# loads maintaining (and checkpointing) that index cost as much as writing the rows, while every
# writer already keeps touchpoint_id unique (ingest inserts by anti-join on it). DuckDB cannot drop
# a constraint, so the table is rebuilt with the same columns; touchpoint_id stays NOT NULL.
_TOUCHPOINT_COLUMNS = (
    "touchpoint_id, occurred_at, person_id, anonymous_id, account_id, channel, source, medium, campaign_id, "
    "touch_type, is_offline, source_system, source_ref, identity_type, identity_value"
)
_V3 = [
    """
    CREATE TABLE touchpoints_v3 (
        touchpoint_id VARCHAR NOT NULL,
        occurred_at TIMESTAMP NOT NULL,
        person_id VARCHAR,
        anonymous_id VARCHAR,
        account_id VARCHAR,
        channel VARCHAR NOT NULL,
        source VARCHAR,
        medium VARCHAR,
        campaign_id VARCHAR,
        touch_type VARCHAR,
        is_offline BOOLEAN NOT NULL DEFAULT FALSE,
        source_system VARCHAR,
        source_ref VARCHAR,
        identity_type VARCHAR,
        identity_value VARCHAR
    )""",
    f"INSERT INTO touchpoints_v3 ({_TOUCHPOINT_COLUMNS}) SELECT {_TOUCHPOINT_COLUMNS} FROM touchpoints",  # noqa: S608 - column lists are this module's constants
    "DROP TABLE touchpoints",
    "ALTER TABLE touchpoints_v3 RENAME TO touchpoints",
]

# Version 4 (ingest/, api/): events without the PRIMARY KEY index, for the reason of version 3:
# a million-event load spent as long maintaining the messageId index as writing the events, and
# ran single-threaded because of it. Both writers (file ingest, collector) insert by anti-join on
# message_id and dedupe within their batch, which keeps message_id unique without the index.
_EVENT_COLUMNS = (
    "message_id, type, event, anonymous_id, user_id, group_id, previous_id, occurred_at, received_at, "
    "properties, traits, context, source"
)
_V4 = [
    """
    CREATE TABLE events_v4 (
        message_id VARCHAR NOT NULL,    -- Segment messageId: dedupes retries and re-ingests
        type VARCHAR NOT NULL,          -- track, page, identify, group, alias
        event VARCHAR,
        anonymous_id VARCHAR,
        user_id VARCHAR,
        group_id VARCHAR,
        previous_id VARCHAR,
        occurred_at TIMESTAMP NOT NULL,
        received_at TIMESTAMP,
        properties JSON,
        traits JSON,
        context JSON,
        source VARCHAR
    )""",
    f"INSERT INTO events_v4 ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM events",  # noqa: S608 - column lists are this module's constants
    "DROP TABLE events",
    "ALTER TABLE events_v4 RENAME TO events",
]


# Version 5 (ingest/, api/): the JSON columns of `events` (properties, traits, context) compressed
# with ZSTD. Why: browser events carry long, nearly unique JSON (user agent, IP, full URLs), which
# DuckDB's automatic choice (DICT_FSST) compresses about 2x at a high CPU cost; ZSTD made the
# JSON of 1M such events 2.6x smaller and their ingest 0.6 s faster (7.4 s before). DuckDB never
# picks ZSTD by itself for strings under 4 KB, so the columns name it. Only a store in a format
# that has ZSTD (DuckDB >= 1.2; new stores, see connection.STORAGE_VERSION) gets it: on an older
# file a named ZSTD silently stores the column uncompressed, so there this step only records the
# version.
_JSON_COLUMNS = ("properties", "traits", "context")


def storage_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The on-disk format of the store behind `con` ('v1.5.0+'); None for an in-memory database."""
    tags = scalar(con, "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()")
    return tags.get("storage_version")


def _has_zstd(con: duckdb.DuckDBPyConnection) -> bool:
    version = storage_version(con)
    if version is None:
        return True  # nothing in memory is compressed: keep the same DDL as a file store
    return tuple(int(x) for x in version.strip("v+").split(".")[:2]) >= (1, 2)


def _v5(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not _has_zstd(con):
        return []
    ddl = _V4[0].replace("events_v4", "events_v5")
    for col in _JSON_COLUMNS:
        if ddl.count(f" {col} JSON,") != 1:  # a check that survives python -O, unlike assert
            raise RuntimeError(f"schema v5: the v4 events DDL must declare {col} JSON exactly once")
        ddl = ddl.replace(f" {col} JSON,", f" {col} JSON USING COMPRESSION zstd,")
    return [
        ddl,
        f"INSERT INTO events_v5 ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM events",  # noqa: S608 - column lists are this module's constants
        "DROP TABLE events",
        "ALTER TABLE events_v5 RENAME TO events",
    ]


# Version 6 (api/, ingest/): `events_to_derive`, the messageIds the collector stored but has not yet
# derived touchpoints and identity links from. Why a table: the collector inserts events and derives
# from them in separate transactions (derivation costs a fixed few hundred ms, so it runs every few
# seconds over many segments); a kill -9 between the two left events without touchpoints for good.
# The ids are inserted in the transaction that stores the events and deleted in the one that
# derives them, so a restart (and `revline stitch`) derives exactly what is still owed. The step
# queues what earlier versions may have left: touch-type events without a touchpoint, and the
# collector's identify/alias events (deriving those again is a no-op for links already stored).
_V6 = [
    "CREATE TABLE IF NOT EXISTS events_to_derive (message_id VARCHAR NOT NULL)",
    """
    INSERT INTO events_to_derive
    SELECT e.message_id FROM events e
    WHERE (e.type IN ('page', 'screen', 'track')
           AND NOT EXISTS (SELECT 1 FROM touchpoints t WHERE t.touchpoint_id = e.message_id))
       OR (e.type IN ('identify', 'alias') AND e.source = 'collector')""",
]


# Version 7 (ingest/, journeys/):
# - spend rows keep where they came from instead of a (date, channel, campaign) key. Why: ad-group
#   rows, ad sets and two ad accounts share that key, and keyed rows overwrote each other (a
#   108-row file kept 90 rows' money). Rows of one file now add up; a row is identified by its file
#   (sha256) and row number, so re-ingesting a file changes nothing, and a later export of the same
#   platform and ad account replaces the overlapping period (ingest/spend.py states the rule).
# - store_state: small counters written in the same transaction as the data they describe, so
#   `attribute`, `paths` and `report` can tell cheaply whether the store changed since the last
#   stitch (store/state.py).
_SPEND_COLUMNS = "date, channel, campaign_id, spend, impressions, clicks, currency"
_V7 = [
    """
    CREATE TABLE spend_v7 (
        date DATE NOT NULL,
        channel VARCHAR NOT NULL,
        campaign_id VARCHAR NOT NULL DEFAULT '',
        spend DECIMAL(18, 2) NOT NULL,
        impressions BIGINT,
        clicks BIGINT,
        currency VARCHAR NOT NULL DEFAULT 'USD',
        platform VARCHAR NOT NULL DEFAULT '',    -- google_ads, meta_ads, linkedin_ads; '' for a revline spend file
        ad_account VARCHAR NOT NULL DEFAULT '',  -- the platform's account (id or name) when the file names it
        source_file VARCHAR NOT NULL DEFAULT '', -- sha256 of the file the row was read from
        source_row BIGINT                        -- its 1-based data row in that file
    )""",
    f"INSERT INTO spend_v7 ({_SPEND_COLUMNS}, source_file, source_row) SELECT {_SPEND_COLUMNS}, 'before-v7', "  # noqa: S608 - column lists are this module's constants
    f"row_number() OVER (ORDER BY date, channel, campaign_id) FROM spend",
    "DROP TABLE spend",
    "ALTER TABLE spend_v7 RENAME TO spend",
    """
    CREATE TABLE IF NOT EXISTS store_state (
        key VARCHAR PRIMARY KEY,        -- data_version, stitched_version, stitched:<table>
        value BIGINT NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )""",
]


# Version 8 (attribution/): the ledger's key is named for what it holds. `opportunity_id` also held
# the person or account converting at lead/mql/sql; `conversion_id` (with conversion_type) is the
# converting object at every milestone. The ledger's columns are declared once, in
# revline.attribution.ledger.COLUMNS; tests/test_store.py checks a migrated store against it.
_V8 = ["ALTER TABLE credit_ledger RENAME COLUMN opportunity_id TO conversion_id"]


# Version 9 (ingest/, api/): touchpoints.time_flag. NULL, or 'received_at': the event's own
# timestamp lay outside the plausibility window (ingest/timewindow.py: by default more than 2 years
# before or 1 day after its receipt), so the touch is dated by the receive time while the event
# keeps the time as sent. Why: a timestamp is whatever a sender says, and the collector's key is
# public; a touch dated 1 BC won first-touch credit and broke every journey of its account.
_V9 = [
    "ALTER TABLE touchpoints ADD COLUMN time_flag VARCHAR",
]


# Version 10 (api/, models/scoring): the latest in-market score of each account and the alerts fired
# on them. Why tables: `revline serve` re-scores the accounts that collected events touch, and the
# read API and dashboard list the hottest ones without computing a model per request; an alert's
# row is written with the score that fired it (same transaction), so the cool-down (at most one
# alert per account per period) and the undelivered alerts survive a restart of the server.
_V10 = [
    """
    CREATE TABLE IF NOT EXISTS account_scores (
        account_id VARCHAR PRIMARY KEY,
        score DOUBLE NOT NULL,          -- probability (0..1) of an opportunity or expansion within 30 days
        kind VARCHAR,                   -- what the score predicts: new_business or expansion
        baseline_points DOUBLE,         -- the recency/frequency points of manual scoring, for comparison
        reasons JSON,                   -- the score's top reasons in words (a JSON list of strings)
        scored_at TIMESTAMP NOT NULL    -- UTC
    )""",
    """
    CREATE TABLE IF NOT EXISTS score_alerts (
        alert_id VARCHAR PRIMARY KEY,
        account_id VARCHAR NOT NULL,
        score DOUBLE NOT NULL,          -- the score that crossed the threshold
        previous_score DOUBLE,          -- the account's stored score before it (NULL: none)
        threshold DOUBLE NOT NULL,
        kind VARCHAR,
        reasons JSON,
        scored_at TIMESTAMP,
        fired_at TIMESTAMP NOT NULL,    -- UTC; the cool-down counts from here
        status VARCHAR NOT NULL,        -- pending, sent, failed (failed ones do not hold the cool-down)
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR,
        sent_at TIMESTAMP
    )""",
]


# Version 11 (ingest/, reports/, store/fx.py):
# - accounts, people and opportunities keep what the canonical columns do not hold. `attributes`:
#   every source column that maps to no canonical field, as a JSON object of header -> text (why:
#   owner, product, region... were dropped silently, and the first question a CRO asks is "by rep,
#   by product"). `dimensions`: the columns promoted to report dimensions (owner and product by
#   default, others with `--dimension name=Header`), as name -> text; read them with
#   revline.store.dimensions.dimension_sql.
# - opportunities.type_defaulted: the deal had no or an unknown type and counts as new_business
#   (reports state how many they include).
# - fx_rates: dated conversion rates to USD loaded from a file (revline.store.fx); amounts are
#   converted at the latest rate on or before their date, the fixed vocabulary.USD_RATES where no
#   dated rate covers a date.
_V11 = [
    *(f"ALTER TABLE {t} ADD COLUMN {c} JSON" for t in ("accounts", "people", "opportunities")
      for c in ("attributes", "dimensions")),
    "ALTER TABLE opportunities ADD COLUMN type_defaulted BOOLEAN",
    """
    CREATE TABLE IF NOT EXISTS fx_rates (
        date DATE NOT NULL,             -- the rate holds from this date until the next one
        currency VARCHAR NOT NULL,      -- ISO code, upper case
        rate DOUBLE NOT NULL,           -- USD per one unit of the currency
        source VARCHAR,                 -- the file it was loaded from
        PRIMARY KEY (date, currency)
    )""",
]


# Version 12 (ingest/lift_tests.py, models/mmm): lift tests as data. A geo holdout, conversion-lift
# test or holdout group measured a channel's incremental outcome (`outcome`: pipeline or revenue,
# USD) over [start_date, end_date] with a standard error; `revline mmm fit` adds each test of its
# outcome as a likelihood term (models/mmm/calibration.py). One row per (channel, window, outcome):
# a re-ingested test replaces the stored one. Why a table, not a file passed to every fit: the
# tests are facts about the company, like its spend, and every fit (CLI, server job) should use them.
_V12 = [
    """
    CREATE TABLE IF NOT EXISTS lift_tests (
        channel VARCHAR NOT NULL,       -- the channel vocabulary of spend (ingest/channels.py)
        start_date DATE NOT NULL,
        end_date DATE NOT NULL,
        outcome VARCHAR NOT NULL DEFAULT 'pipeline',  -- what `lift` counts: pipeline or revenue
        lift DOUBLE NOT NULL,           -- measured incremental outcome in the window (USD)
        sd DOUBLE NOT NULL,             -- its standard error (> 0)
        design VARCHAR,                 -- geo holdout, conversion lift, holdout group, ... (free text)
        source_file VARCHAR,            -- sha256 of the file it was read from
        source_row BIGINT,              -- its 1-based data row there
        PRIMARY KEY (channel, start_date, end_date, outcome)
    )""",
]


# A step is its statements, or a function of the store giving them (when they depend on its format).
Step = list[str] | Callable[[duckdb.DuckDBPyConnection], list[str]]

MIGRATIONS: list[tuple[int, Step]] = [
    (1, _V1),
    (2, _V2),
    (3, _V3),
    (4, _V4),
    (5, _v5),
    (6, _V6),
    (7, _V7),
    (8, _V8),
    (9, _V9),
    (10, _V10),
    (11, _V11),
    (12, _V12),
]


def statements(step: Step, con: duckdb.DuckDBPyConnection) -> list[str]:
    """The SQL of one migration step for the store behind `con`."""
    return step(con) if callable(step) else step


SCHEMA_VERSION: int = MIGRATIONS[-1][0]

CANONICAL_TABLES: tuple[str, ...] = (
    "accounts",
    "people",
    "identities",
    "touchpoints",
    "campaigns",
    "spend",
    "opportunities",
    "opportunity_contacts",
    "stage_events",
    "targets",
    "lift_tests",
    "quarantine",
    "credit_ledger",
)
