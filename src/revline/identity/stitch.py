"""Stitching: every observed identity -> one person, every person -> an account.

Why this shape: the graph is read from the canonical tables with set-based SQL, reduced to
integer codes, solved by scipy's connected components (linear time, millions of nodes in
seconds) or by label propagation where the edges are (identity.components), and the answers are
written back in one transaction. The SQL is one text per step in DuckDB's dialect, run through
store.sqlsteps: temp tables on DuckDB, the same text transpiled to Spark's on an export folder
(`stitch_on`), so Spark stitches with this code, not a second implementation. Every choice (which id names a
person, which field wins a merge, which account a person joins) is a minimum over an ordering
of values, so the result depends on the data, never on the order rows arrived in, and a second
run over its own output changes nothing.

Account evidence, strongest first: the CRM's own AccountId, then a Segment `group` call whose
groupId names an account (by id or domain), then the person's business email domain.
A derived account is written to `people.account_id` and therefore read as stated by the next
run; with unchanged inputs that gives the same answer (idempotent), and it means an account, once
found, does not flip when a later group call disagrees unless the CRM says otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from revline.identity.domains import domain_sql, free_mail_sql, registered_domains
from revline.identity.graph import CRM_TYPES, TYPE_PRIORITY, UNKNOWN_PRIORITY, representatives
from revline.identity.source_touches import superseded_sql, supersede_source_touches
from revline.store.sql import lit
from revline.store.sqlsteps import DuckSteps, SparkSteps, Steps, scalar
from revline.store.transaction import atomic, transaction

DERIVED_SOURCE = "revline:identity"
"""`people.source_system` of persons stitching created (no CRM record): re-derived every run."""

COMPONENTS: tuple[str, ...] = ("scipy", "propagation")
"""How `stitch` finds connected components: scipy over the edges in this process (the default:
fastest on one machine), or label propagation in Ibis (identity.components: the code that runs
on Spark without collecting the edges), which gives the same components."""


@dataclass(frozen=True)
class StitchReport:
    """What one stitching run found; printed by `revline stitch`, returned to notebooks."""

    identities: int
    edges: int
    persons: int
    crm_records: int
    crm_records_merged: int
    anonymous_persons: int
    largest_person_identities: int
    people_with_account: int
    account_sources: dict[str, int] = field(default_factory=dict)
    touchpoints: int = 0
    touchpoints_with_person: int = 0
    touchpoints_with_account: int = 0
    unknown_identity_types: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    source_touches_superseded: int = 0  # CRM source touches an observed touch explains (source_touches.py)

    def as_dict(self) -> dict:
        return asdict(self)


def _norm(type_expr: str, value_expr: str) -> str:
    """Emails compare case-insensitively; every other id is compared as written (trimmed)."""
    return f"CASE WHEN {type_expr} = 'email' THEN lower(trim({value_expr})) ELSE trim({value_expr}) END"


def _priority_sql(type_expr: str) -> str:
    cases = " ".join(f"WHEN {lit(t)} THEN {int(p)}" for t, p in TYPE_PRIORITY.items())
    return f"CASE {type_expr} {cases} ELSE {UNKNOWN_PRIORITY} END"


def _crm_ids(table: str, column: str, rest: str, where: str = "") -> str:
    """`SELECT type, id, rest FROM table` for the bare CRM ids in `table.column` (people.person_id,
    stage_events.object_id ...): typed as the links name them, else by Salesforce's key prefix
    (00Q = Lead), else a contact (HubSpot ids, 003...). A join on `_stitch_crm` (one row per id),
    not a correlated subquery: both engines run it as a hash join."""
    col = f"x.{column}"
    return (
        f"SELECT coalesce(c.t, CASE WHEN starts_with(trim({col}), '00Q') THEN 'crm_lead_id' ELSE 'crm_contact_id' END), "
        f"{col}, {rest} FROM {table} x LEFT JOIN _stitch_crm c ON c.v = trim({col})" + (f" WHERE {where}" if where else "")
    )


def _crm_types(steps: Steps) -> None:
    """The CRM type of every CRM id named in links or touches (a lead id vs a contact id)."""
    crm_list = ", ".join(lit(t) for t in CRM_TYPES)
    steps.create(
        "_stitch_crm",
        f"""
        SELECT v, arg_min(t, {_priority_sql('t')}) AS t FROM (
            SELECT left_type AS t, trim(left_value) AS v FROM identity_links
            UNION ALL SELECT right_type, trim(right_value) FROM identity_links
            UNION ALL SELECT identity_type, trim(identity_value) FROM touchpoints
        ) WHERE t IN ({crm_list}) AND v IS NOT NULL AND v <> '' GROUP BY v
        """,
    )


LINK_COLUMNS = ["left_type", "left_value", "right_type", "right_value", "source", "observed_at"]
LINK_KEY = LINK_COLUMNS[:4]


def _record_people_edges(steps: Steps) -> None:
    """Keep each CRM record's own id<->email edge in `identity_links` before `people` is merged.

    Merging rewrites `people`, so the edge a lead row gave (its id and its address) would be
    gone on the next run; stored as an observed link it survives, which keeps stitching
    idempotent. Ingest usually writes the same edge already (then nothing is added).
    """
    rest = "'email', lower(trim(x.email)), coalesce(x.source_system, 'crm') || ':record', x.created_at"
    where = f"x.source_system IS DISTINCT FROM '{DERIVED_SOURCE}' AND x.email IS NOT NULL AND trim(x.email) <> ''"
    steps.create(
        "_stitch_people_links",
        f"SELECT DISTINCT t AS left_type, trim(v) AS left_value, rt AS right_type, rv AS right_value, "
        f"src AS source, seen AS observed_at FROM ({_crm_ids('people', 'person_id', rest, where)}) AS e(t, v, rt, rv, src, seen)",
    )
    steps.insert_new("identity_links", "_stitch_people_links", LINK_COLUMNS, LINK_KEY)


def _collect_graph(steps: Steps) -> None:
    """Observations (identity, when, source) and edges from every table that names a person.

    Earlier `identities` rows count as observations (not edges): an identity once seen keeps
    its first-seen time and source even after the row that showed it was merged away.
    """
    _record_people_edges(steps)
    no_time = "NULL::TIMESTAMP, NULL"
    stated = f"x.source_system IS DISTINCT FROM '{DERIVED_SOURCE}'"
    steps.create(
        "_stitch_obs",
        f"""
        SELECT t, {_norm('t', 'v')} AS v, seen_at, source FROM (
            SELECT left_type AS t, left_value AS v, observed_at AS seen_at, source FROM identity_links
            UNION ALL SELECT right_type, right_value, observed_at, source FROM identity_links
            UNION ALL SELECT identity_type, identity_value, first_seen_at, source_system FROM identities
            UNION ALL {_crm_ids('people', 'person_id', no_time, stated)}
            UNION ALL SELECT identity_type, identity_value, occurred_at, source_system FROM touchpoints
            UNION ALL SELECT 'anonymous_id', anonymous_id, occurred_at, source_system FROM touchpoints
            UNION ALL {_crm_ids('touchpoints', 'person_id', no_time, 'x.identity_value IS NULL AND x.anonymous_id IS NULL')}
            UNION ALL SELECT 'anonymous_id', anonymous_id, occurred_at, source FROM events
            UNION ALL SELECT 'user_id', user_id, occurred_at, source FROM events
            UNION ALL {_crm_ids('stage_events', 'object_id', no_time, "x.object_type = 'person'")}
            UNION ALL {_crm_ids('opportunity_contacts', 'person_id', no_time)}
        ) AS o(t, v, seen_at, source) WHERE t IS NOT NULL AND v IS NOT NULL AND trim(v) <> ''
        """,
    )
    steps.create(
        "_stitch_edges",
        f"""
        SELECT lt, {_norm('lt', 'lv')} AS lv, rt, {_norm('rt', 'rv')} AS rv FROM (
            SELECT left_type AS lt, left_value AS lv, right_type AS rt, right_value AS rv FROM identity_links
            UNION ALL SELECT identity_type, identity_value, 'anonymous_id', anonymous_id FROM touchpoints
            UNION ALL SELECT 'anonymous_id', anonymous_id, 'user_id', user_id FROM events
        ) WHERE lt IS NOT NULL AND rt IS NOT NULL AND trim(lv) <> '' AND trim(rv) <> ''
        """,
    )


CODED_EDGES = """
    SELECT a.code AS l, b.code AS r FROM _stitch_edges e
    JOIN _stitch_nodes a ON a.t = e.lt AND a.v = e.lv
    JOIN _stitch_nodes b ON b.t = e.rt AND b.v = e.rv
"""
"""The identity graph's edges as node codes (`_stitch_nodes.code`), during a stitch."""


def _solve(steps: Steps, components: str = "scipy") -> tuple[int, int]:
    """Code the nodes by preference, find components (`components`: see COMPONENTS), name each
    component's person."""
    if components not in COMPONENTS:
        raise ValueError(f"components={components!r}: one of {', '.join(COMPONENTS)}")
    if components == "scipy" and not isinstance(steps, DuckSteps):
        raise ValueError(f"components='scipy' needs the edges in this process; on {steps.name} use 'propagation'")
    # Each identity's first sighting and the source that showed it then: the smallest source among
    # equally early ones, a source seen at no time only when none was seen at a time. The key is a
    # struct whose first field puts the timeless last, so no NULL is ever compared (the engines
    # order NULLs differently) and the choice needs no ordered aggregate (Spark has none).
    steps.create(
        "_stitch_nodes",
        f"""
        SELECT t, v, prio, first_seen_at, source,
               (row_number() OVER (ORDER BY prio, v, t) - 1)::BIGINT AS code
        FROM (
            SELECT t, v, {_priority_sql('t')} AS prio, min(seen_at) AS first_seen_at,
                   arg_min(source, struct_pack(timeless := seen_at IS NULL, seen_at := seen_at, source := source))
                       FILTER (WHERE source IS NOT NULL) AS source
            FROM _stitch_obs GROUP BY t, v
        ) AS n
        """,
    )
    n = scalar(steps, "SELECT count(*) FROM _stitch_nodes")
    if components == "propagation":
        n_edges = _propagate(steps, CODED_EDGES)
    else:
        arrays = steps.numpy(CODED_EDGES)  # type: ignore[attr-defined]  # DuckSteps, checked above
        left, right = np.asarray(arrays["l"]), np.asarray(arrays["r"])
        n_edges = len(left)
        rep = representatives(n, left, right)
        steps.register("_stitch_rep", pa.table({"code": np.arange(n, dtype=np.int64), "rep_code": rep}))
    # A person is named by its preferred identity's value; should two persons' names collide
    # across types (user_id 'x' vs anonymous_id 'x'), all but the most preferred carry the type.
    steps.create(
        "_stitch_persons",
        """
        SELECT rep_code, t AS rep_t, v AS rep_v,
               CASE WHEN row_number() OVER (PARTITION BY v ORDER BY rep_code) > 1 THEN t || ':' || v
                    ELSE v END AS person_id
        FROM (SELECT DISTINCT rep_code FROM _stitch_rep) r JOIN _stitch_nodes n ON n.code = r.rep_code
        """,
    )
    steps.create(
        "_stitch_map",
        """
        SELECT n.t, n.v, n.code, n.prio, n.first_seen_at, n.source, p.person_id, p.rep_t, r.rep_code
        FROM _stitch_nodes n JOIN _stitch_rep r ON r.code = n.code JOIN _stitch_persons p ON p.rep_code = r.rep_code
        """,
    )
    crm_list = ", ".join(lit(t) for t in CRM_TYPES)
    steps.create(
        "_stitch_crm_map",
        f"""
        SELECT v, arg_min(person_id, code) AS person_id, min(code) AS code
        FROM _stitch_map WHERE t IN ({crm_list}) GROUP BY v
        """,
    )
    return int(n), int(n_edges)


def _propagate(steps: Steps, coded: str) -> int:
    """`_stitch_rep` by label propagation in Ibis (identity.components), on the steps' own engine;
    returns the number of edges."""
    from revline.identity.components import representatives_expr

    steps.create("_stitch_codes", coded)
    found = representatives_expr(steps.table("_stitch_nodes").select("code"), steps.table("_stitch_codes"))
    try:
        steps.create_expr("_stitch_rep", found.labels.select(code=found.labels.code, rep_code=found.labels.label))
    finally:
        found.release()
    return int(scalar(steps, "SELECT count(*) FROM _stitch_codes"))


def _merge_people(steps: Steps, free_mail: Iterable[str]) -> None:
    """One row per person: CRM fields coalesced by identity preference, then the account.

    The promoted dimensions and kept source columns (`dimensions`, `attributes`, JSON objects) come
    whole from the most preferred CRM record that has them, like every other field."""
    steps.create(
        "_stitch_acct_domains",
        f"""
        SELECT domain, min(account_id) AS account_id FROM (
            SELECT account_id, {domain_sql('domain')} AS domain FROM accounts
        ) WHERE domain IS NOT NULL GROUP BY domain
        """,
    )
    # registered domains (public-suffix list): `jane@eu.acme.com` joins the account `acme.com`
    # when no account has `eu.acme.com` itself; among accounts under one registered domain the
    # one whose domain IS that registered domain wins, then the smallest id. Cut on the driver,
    # once per distinct host (a company's thousands of addresses share one).
    hosts = steps.rows(
        "SELECT DISTINCT h FROM (SELECT domain FROM _stitch_acct_domains UNION ALL SELECT split_part(v, '@', -1) "
        f"FROM _stitch_map WHERE t = 'email' UNION ALL SELECT {domain_sql('group_id')} FROM events WHERE type = 'group') "
        "AS d(h) WHERE h IS NOT NULL"
    )
    steps.register("_stitch_reg", registered_domains([h for (h,) in hosts]))
    steps.create(
        "_stitch_acct_reg",
        """
        SELECT r.reg, coalesce(min(d.account_id) FILTER (WHERE d.domain = r.reg), min(d.account_id)) AS account_id
        FROM _stitch_acct_domains d JOIN _stitch_reg r ON r.host = d.domain GROUP BY r.reg
        """,
    )
    steps.create(
        "_stitch_people",
        f"""
        WITH src AS (
            SELECT p.*, m.person_id AS pid, m.code
            FROM people p JOIN _stitch_crm_map m ON m.v = trim(p.person_id)
            WHERE p.source_system IS DISTINCT FROM '{DERIVED_SOURCE}'
        ),
        merged AS (
            SELECT pid AS person_id,
                   arg_min(account_id, code) FILTER (WHERE account_id IS NOT NULL) AS account_id,
                   arg_min(lower(trim(email)), code) FILTER (WHERE email IS NOT NULL AND trim(email) <> '') AS email,
                   arg_min(first_name, code) FILTER (WHERE first_name IS NOT NULL) AS first_name,
                   arg_min(last_name, code) FILTER (WHERE last_name IS NOT NULL) AS last_name,
                   arg_min(title, code) FILTER (WHERE title IS NOT NULL) AS title,
                   min(created_at) AS created_at,
                   arg_min(source_system, code) FILTER (WHERE source_system IS NOT NULL) AS source_system,
                   arg_min(attributes, code) FILTER (WHERE attributes IS NOT NULL) AS attributes,
                   arg_min(dimensions, code) FILTER (WHERE dimensions IS NOT NULL) AS dimensions,
                   count(*) AS crm_rows
            FROM src GROUP BY pid
        ),
        persons AS (
            SELECT person_id, min(first_seen_at) AS first_seen_at,
                   min(v) FILTER (WHERE t = 'email') AS any_email
            FROM _stitch_map GROUP BY person_id
        ),
        base AS (
            SELECT p.person_id, m.account_id AS stated_account, coalesce(m.email, p.any_email) AS email,
                   m.first_name, m.last_name, m.title, coalesce(m.created_at, p.first_seen_at) AS created_at,
                   coalesce(m.source_system, CASE WHEN m.person_id IS NULL THEN '{DERIVED_SOURCE}' END) AS source_system,
                   m.attributes, m.dimensions, coalesce(m.crm_rows, 0) AS crm_rows
            FROM persons p LEFT JOIN merged m ON m.person_id = p.person_id
        ),
        group_calls AS (
            SELECT coalesce(mu.person_id, ma.person_id) AS person_id, e.occurred_at,
                   coalesce(a.account_id, d.account_id, dr.account_id) AS account_id
            FROM events e
            LEFT JOIN _stitch_map mu ON mu.t = 'user_id' AND mu.v = trim(e.user_id)
            LEFT JOIN _stitch_map ma ON ma.t = 'anonymous_id' AND ma.v = trim(e.anonymous_id)
            LEFT JOIN accounts a ON a.account_id = trim(e.group_id)
            LEFT JOIN _stitch_acct_domains d ON d.domain = {domain_sql('e.group_id')}
            LEFT JOIN _stitch_reg gr ON gr.host = {domain_sql('e.group_id')}
            LEFT JOIN _stitch_acct_reg dr ON dr.reg = gr.reg
            WHERE e.type = 'group' AND e.group_id IS NOT NULL
        ),
        by_group AS (
            SELECT person_id, account_id FROM (
                SELECT person_id, account_id,
                       row_number() OVER (PARTITION BY person_id ORDER BY occurred_at DESC, account_id) AS rn
                FROM group_calls WHERE person_id IS NOT NULL AND account_id IS NOT NULL
            ) WHERE rn = 1
        ),
        by_domain AS (
            SELECT person_id, account_id FROM (
                SELECT m.person_id, coalesce(d.account_id, dr.account_id) AS account_id,
                       row_number() OVER (PARTITION BY m.person_id
                                          ORDER BY (m.v = b.email) DESC, d.account_id IS NULL,
                                                   coalesce(d.account_id, dr.account_id)) AS rn
                FROM _stitch_map m
                JOIN base b ON b.person_id = m.person_id
                LEFT JOIN _stitch_acct_domains d ON d.domain = split_part(m.v, '@', -1)
                LEFT JOIN _stitch_reg r ON r.host = split_part(m.v, '@', -1)
                LEFT JOIN _stitch_acct_reg dr ON dr.reg = r.reg
                WHERE m.t = 'email' AND coalesce(d.account_id, dr.account_id) IS NOT NULL
                  AND NOT {free_mail_sql("split_part(m.v, '@', -1)", free_mail)}
                  AND NOT coalesce({free_mail_sql('r.reg', free_mail)}, false)
            ) WHERE rn = 1
        )
        SELECT b.person_id, coalesce(b.stated_account, g.account_id, dm.account_id) AS account_id,
               CASE WHEN b.stated_account IS NOT NULL THEN 'crm'
                    WHEN g.account_id IS NOT NULL THEN 'group'
                    WHEN dm.account_id IS NOT NULL THEN 'email_domain' END AS account_source,
               b.email, b.first_name, b.last_name, b.title, b.created_at, b.source_system, b.attributes,
               b.dimensions, b.crm_rows
        FROM base b LEFT JOIN by_group g ON g.person_id = b.person_id LEFT JOIN by_domain dm ON dm.person_id = b.person_id
        """,
    )


def _remap_facts(steps: Steps) -> None:
    """New person (and account) of every touch, contact role and person stage event."""
    steps.create(
        "_stitch_tp",
        f"""
        SELECT t.touchpoint_id, pid AS person_id, coalesce(p.account_id, t.account_id) AS account_id
        FROM (
            SELECT t.touchpoint_id, t.account_id, coalesce(mi.person_id, ma.person_id, mc.person_id) AS pid
            FROM (
                -- the stated person counts only for touches observed under no identity; as a key
                -- column (not a join condition) so the join stays a hash join
                SELECT *, CASE WHEN identity_value IS NULL AND anonymous_id IS NULL THEN trim(person_id) END AS stated_key
                FROM touchpoints
            ) t
            LEFT JOIN _stitch_map mi ON mi.t = t.identity_type AND mi.v = {_norm('t.identity_type', 't.identity_value')}
            LEFT JOIN _stitch_map ma ON ma.t = 'anonymous_id' AND ma.v = trim(t.anonymous_id)
            LEFT JOIN _stitch_crm_map mc ON mc.v = t.stated_key
        ) t LEFT JOIN _stitch_people p ON p.person_id = t.pid
        """,
    )
    # one row per (opportunity, person): the role of the primary row first, then of the most
    # preferred CRM record (a window, not an ordered aggregate: Spark has none)
    steps.create(
        "_stitch_oc",
        """
        SELECT opportunity_id, person_id, max(CASE WHEN rn = 1 THEN role END) AS role, bool_or(is_primary) AS is_primary
        FROM (
            SELECT oc.opportunity_id, coalesce(m.person_id, oc.person_id) AS person_id, oc.role, oc.is_primary,
                   row_number() OVER (PARTITION BY oc.opportunity_id, coalesce(m.person_id, oc.person_id)
                                      ORDER BY oc.role IS NULL, oc.is_primary DESC NULLS LAST, m.code NULLS LAST) AS rn
            FROM opportunity_contacts oc LEFT JOIN _stitch_crm_map m ON m.v = trim(oc.person_id)
        ) AS c
        GROUP BY opportunity_id, person_id
        """,
    )
    # the earliest entry per (person, stage); among equally early ones the smallest source
    steps.create(
        "_stitch_se",
        """
        SELECT 'person' AS object_type, object_id, stage, min(entered_at) AS entered_at,
               arg_min(source_system, entered_at) FILTER (WHERE source_system IS NOT NULL) AS source_system
        FROM (
            SELECT coalesce(m.person_id, s.object_id) AS object_id, s.stage, s.entered_at, min(s.source_system) AS source_system
            FROM stage_events s LEFT JOIN _stitch_crm_map m ON m.v = trim(s.object_id)
            WHERE s.object_type = 'person'
            GROUP BY coalesce(m.person_id, s.object_id), s.stage, s.entered_at
        ) AS s
        GROUP BY object_id, stage
        """,
    )


OUTPUTS: dict[str, str] = {
    "identities": "SELECT t AS identity_type, v AS identity_value, person_id, first_seen_at, source AS source_system "
                  "FROM _stitch_map",
    "people": "SELECT person_id, account_id, email, first_name, last_name, title, created_at, source_system, "
              "attributes, dimensions FROM _stitch_people",
    "opportunity_contacts": "SELECT opportunity_id, person_id, role, is_primary FROM _stitch_oc",
}
"""The stitched tables a stitch replaces whole, as queries over its scratch tables (columns by name)."""


def _write(con: duckdb.DuckDBPyConnection) -> None:
    """Replace the stitched tables in one transaction: readers never see half a graph."""
    with transaction(con):
        for table, sql in OUTPUTS.items():
            con.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
            con.execute(f"INSERT INTO {table} BY NAME {sql}")  # noqa: S608 - fixed text
        con.execute(
            """
            UPDATE touchpoints SET person_id = s.person_id, account_id = s.account_id
            FROM _stitch_tp s
            WHERE touchpoints.touchpoint_id = s.touchpoint_id
              AND (touchpoints.person_id IS DISTINCT FROM s.person_id
                   OR touchpoints.account_id IS DISTINCT FROM s.account_id)
            """
        )
        con.execute("DELETE FROM stage_events WHERE object_type = 'person'")
        con.execute(
            "INSERT INTO stage_events (object_type, object_id, stage, entered_at, source_system) "
            "SELECT object_type, object_id, stage, entered_at, source_system FROM _stitch_se"
        )


def _report(steps: Steps, n_nodes: int, n_edges: int, seconds: float) -> StitchReport:
    q = lambda sql: steps.rows(sql)[0]  # noqa: E731 - local shorthand
    persons, crm_persons, crm_rows, anonymous, with_account = q(
        "SELECT count(*), count(*) FILTER (WHERE crm_rows > 0), sum(crm_rows), "
        "count(*) FILTER (WHERE crm_rows = 0), count(account_id) FROM _stitch_people"
    )
    sources = dict(steps.rows(
        "SELECT account_source, count(*) FROM _stitch_people WHERE account_source IS NOT NULL GROUP BY 1 ORDER BY 1"
    ))
    largest = q("SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM _stitch_map GROUP BY person_id) AS s")[0]
    known = ", ".join(lit(t) for t in TYPE_PRIORITY)
    unknown = dict(steps.rows(f"SELECT t, count(*) FROM _stitch_map WHERE t NOT IN ({known}) GROUP BY 1 ORDER BY 1"))
    tps, tp_person, tp_account = q("SELECT count(*), count(person_id), count(account_id) FROM _stitch_tp")
    return StitchReport(
        identities=int(n_nodes), edges=int(n_edges), persons=int(persons), crm_records=int(crm_rows or 0),
        crm_records_merged=int((crm_rows or 0) - crm_persons), anonymous_persons=int(anonymous),
        largest_person_identities=int(largest), people_with_account=int(with_account),
        account_sources={str(k): int(v) for k, v in sources.items()}, touchpoints=int(tps),
        touchpoints_with_person=int(tp_person), touchpoints_with_account=int(tp_account),
        unknown_identity_types={str(k): int(v) for k, v in unknown.items()}, seconds=round(seconds, 3),
    )


def coded_graph(steps: Steps, components: str = "scipy") -> tuple[int, int]:
    """The identity graph coded and solved as stitching does (scratch tables `_stitch_*`, kept until
    `steps.drop_all()`: `CODED_EDGES` reads them); returns (identities, edges)."""
    _crm_types(steps)
    _collect_graph(steps)
    return _solve(steps, components)


def _graph_and_merge(steps: Steps, free_mail: Iterable[str], components: str) -> tuple[int, int]:
    """Every step before the write, on `steps`' engine; returns (identities, edges)."""
    n_nodes, n_edges = coded_graph(steps, components)
    _merge_people(steps, list(free_mail))
    _remap_facts(steps)
    return n_nodes, n_edges


def stitch(con: duckdb.DuckDBPyConnection, *, free_mail: Iterable[str] = (), components: str = "scipy") -> StitchReport:
    """Resolve identities into persons and persons into accounts, rewriting the store in place.

    Rewrites `identities`, `people`, `touchpoints.person_id/account_id`,
    `opportunity_contacts.person_id` and person `stage_events` (deduplicated keeping the
    earliest entry per stage). `free_mail` adds domains that must never join an account.
    `components` chooses how connected components are found (COMPONENTS); the result is the same.
    """
    started = time.perf_counter()
    steps = DuckSteps(con)
    try:
        # one transaction: the CRM records' edges kept in identity_links, the stitched tables and
        # the superseded source touches land together or not at all (a crash leaves the old store)
        with atomic(con):
            n_nodes, n_edges = _graph_and_merge(steps, free_mail, components)
            _write(con)
            superseded = supersede_source_touches(con)  # needs the persons just written
        report = _report(steps, n_nodes, n_edges, time.perf_counter() - started)
        return replace(report, source_touches_superseded=superseded)
    finally:
        steps.drop_all()


def _columns_sql(columns: list[str], given: dict[str, str], alias: str) -> str:
    """A select list of exactly `columns`: `given` expressions by name, else `alias`'s column."""
    return ", ".join(f"{given[c]} AS {c}" if c in given else f"{alias}.{c}" for c in columns)


def stitch_on(engine: Any, *, free_mail: Iterable[str] = ()) -> StitchReport:
    """`stitch` on an engine (store.engine). On Spark: the same steps (store.sqlsteps), components
    by label propagation where the edges are, and the stitched tables (with `identity_links` when
    CRM records added edges) written back through `engine.write_many`, staged and swapped in
    together; on DuckDB: `stitch` on its connection. The caller records the stitch (ops.engine_flow)."""
    from revline.store.engine import DuckDBEngine

    if isinstance(engine, DuckDBEngine):
        return stitch(engine.con, free_mail=free_mail)
    started = time.perf_counter()
    steps = SparkSteps(engine)
    try:
        n_nodes, n_edges = _graph_and_merge(steps, free_mail, "propagation")
        manifest = engine.manifest["tables"]
        cols = {t: [c for c, _ in manifest[t]["columns"]] for t in ("touchpoints", "stage_events")}
        # the touches with their new person and account, then without the CRM source touches an
        # observed touch of the same person/account explains (source_touches)
        steps.create("_stitch_touches", f"SELECT {_columns_sql(cols['touchpoints'], {'person_id': 's.person_id', 'account_id': 's.account_id'}, 't')} "  # noqa: S608 - manifest column names
                                        "FROM touchpoints t JOIN _stitch_tp s ON s.touchpoint_id = t.touchpoint_id")
        steps.create("_stitch_superseded", superseded_sql("_stitch_touches"))
        superseded = int(scalar(steps, "SELECT count(*) FROM _stitch_superseded"))
        outputs = dict(OUTPUTS)
        outputs["touchpoints"] = ("SELECT * FROM _stitch_touches t WHERE NOT EXISTS "
                                  "(SELECT 1 FROM _stitch_superseded s WHERE s.touchpoint_id = t.touchpoint_id)")
        outputs["stage_events"] = (f"SELECT {', '.join(cols['stage_events'])} FROM stage_events WHERE object_type <> 'person' "  # noqa: S608 - manifest column names
                                   f"UNION ALL SELECT {_columns_sql(cols['stage_events'], {}, 'se')} FROM _stitch_se se")
        for table, sql in outputs.items():  # views over checkpointed steps: write_many reads each once
            steps.view(f"_stitch_out_{table}", sql)
        writes = {table: steps.table(f"_stitch_out_{table}") for table in outputs}
        writes.update({table: steps.table(table) for table in steps.pending})
        engine.write_many(writes)
        report = _report(steps, n_nodes, n_edges, time.perf_counter() - started)
        return replace(report, source_touches_superseded=superseded)
    finally:
        steps.drop_all()
