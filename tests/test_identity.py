"""Identity stitching: graph components, deterministic person ids, account joins, idempotence."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.identity import is_free_mail, normalize_domain, representatives, stitch
from revline.identity.domains import registered_domain
from revline.identity.graph import TYPE_PRIORITY
from revline.store import connect

STITCHED = ("identities", "people", "touchpoints", "stage_events", "opportunity_contacts")


def _snapshot(con) -> dict[str, list[tuple]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in STITCHED}


def _person_of(con, t: str, v: str) -> str:
    row = con.execute(
        "SELECT person_id FROM identities WHERE identity_type = ? AND identity_value = ?", [t, v]
    ).fetchone()
    assert row is not None, f"identity {t}={v} missing"
    return row[0]


@pytest.fixture()
def con():
    c = connect(":memory:")
    yield c
    c.close()


# --- domains -------------------------------------------------------------------------------


def test_normalize_domain_handles_urls_emails_and_www():
    assert normalize_domain("https://WWW.Acme.com/about?x=1") == "acme.com"
    assert normalize_domain("Jane.Doe@Sub.Acme.CO.uk") == "sub.acme.co.uk"
    assert normalize_domain("  ") is None
    assert normalize_domain(None) is None


@pytest.mark.parametrize("host, expected", [
    ("eu.acme.com", "acme.com"),
    ("https://www.EU.Acme.com/x", "acme.com"),
    ("jane@mail.eu.acme.com", "acme.com"),
    ("acme.co.uk", "acme.co.uk"),              # co.uk is a public suffix: acme.co.uk stays itself
    ("sales.acme.co.uk", "acme.co.uk"),
    ("a.b.example.com.au", "example.com.au"),   # three-part suffixes too
    ("shop.acme.kawasaki.jp", "shop.acme.kawasaki.jp"),  # *.kawasaki.jp is a wildcard suffix
    ("acme.github.io", "acme.github.io"),       # private suffixes: two tenants stay two companies
    ("beta.github.io", "beta.github.io"),
    ("isp.example", "isp.example"),             # no public suffix: the host itself
    ("localhost", "localhost"),
    (None, None),
])
def test_registered_domain_uses_the_public_suffix_list(host, expected):
    assert registered_domain(host) == expected


def test_registered_domain_never_touches_the_network(monkeypatch):
    import socket

    from revline.identity import domains

    def refuse(*args, **kwargs):
        raise AssertionError("network access at run time")

    domains._extractor.cache_clear()
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert registered_domain("x.y.acme.co.nz") == "acme.co.nz"
    ex = domains._extractor()
    assert tuple(ex.suffix_list_urls) == () and ex._cache.enabled is False


def test_free_mail_list_covers_families_and_extras():
    for d in ("gmail.com", "GMX.de", "gmx.at", "web.de", "yahoo.co.uk", "proton.me", "icloud.com"):
        assert is_free_mail(d), d
    assert not is_free_mail("acme.com")
    assert is_free_mail("corp-mail.example", extra=["corp-mail.example"])


# --- graph ---------------------------------------------------------------------------------


def test_representatives_is_smallest_code_per_component():
    # 0-3 chain via 3-1, 2 alone, 4-5
    rep = representatives(6, np.array([3, 0, 5]), np.array([1, 3, 4]))
    assert rep.tolist() == [0, 0, 2, 0, 4, 4]


def test_representatives_rejects_bad_codes():
    with pytest.raises(ValueError, match="outside"):
        representatives(2, np.array([0]), np.array([2]))


# --- stitching on a hand example -------------------------------------------------------------


def _hand_example(con) -> None:
    con.execute(
        "INSERT INTO accounts (account_id, name, domain) VALUES "
        "('001A', 'Acme', 'https://www.acme.com/'), ('001B', 'Beta', 'beta.io'), ('001G', 'Gm', 'gmail.com')"
    )
    con.execute(
        """INSERT INTO people (person_id, account_id, email, first_name, title, created_at, source_system) VALUES
        ('0031', '001A', 'Jane@Acme.com', 'Jane', NULL, '2024-02-01', 'salesforce'),
        ('00Q1', NULL, 'jane@acme.com', 'J', 'CTO', '2024-01-01', 'salesforce'),
        ('00Q2', NULL, 'bob@beta.io', 'Bob', NULL, '2024-01-05', 'salesforce'),
        ('00Q3', NULL, 'carl@gmail.com', 'Carl', NULL, '2024-01-05', 'salesforce')"""
    )
    con.execute(
        """INSERT INTO identity_links VALUES
        ('crm_lead_id', '00Q1', 'crm_contact_id', '0031', 'salesforce:lead_conversion', '2024-02-01'),
        ('anonymous_id', 'a1', 'user_id', 'u1', 'segment:identify', '2024-01-01'),
        ('user_id', 'u1', 'email', 'JANE@acme.com', 'segment:identify', '2024-01-01'),
        ('anonymous_id', 'a9', 'user_id', 'u9', 'segment:identify', '2024-01-01')"""
    )
    con.execute(
        """INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, anonymous_id, identity_type, identity_value) VALUES
        ('t1', '2023-12-01', 'paid_search', 'a1', 'anonymous_id', 'a1'),
        ('t2', '2023-12-02', 'direct', 'a5', 'anonymous_id', 'a5'),
        ('t3', '2023-12-03', 'direct', 'a9', 'anonymous_id', 'a9'),
        ('t4', '2023-12-03', 'email', NULL, 'crm_lead_id', '00Q3')"""
    )
    con.execute(
        "INSERT INTO events (message_id, type, anonymous_id, user_id, group_id, occurred_at) "
        "VALUES ('m1', 'group', 'a9', 'u9', 'https://beta.io', '2024-01-01')"
    )
    con.execute(
        """INSERT INTO stage_events VALUES ('person', '00Q1', 'mql', '2024-01-10', 'sf'),
        ('person', '0031', 'mql', '2024-02-10', 'sf'), ('person', '0031', 'sql', '2024-02-10', 'sf')"""
    )
    con.execute(
        "INSERT INTO opportunity_contacts VALUES ('006', '00Q1', 'Decision Maker', false), ('006', '0031', NULL, true)"
    )


def test_chain_lead_contact_cookie_login_email_becomes_one_contact(con):
    _hand_example(con)
    report = stitch(con)
    # a1 -> u1 -> email -> 00Q1 -> 0031: one person named by the contact id
    for t, v in [("anonymous_id", "a1"), ("user_id", "u1"), ("email", "jane@acme.com"),
                 ("crm_lead_id", "00Q1"), ("crm_contact_id", "0031")]:
        assert _person_of(con, t, v) == "0031"
    assert report.persons == 5
    assert report.crm_records_merged == 1
    person = con.execute("SELECT account_id, email, first_name, title, created_at::VARCHAR FROM people WHERE person_id = '0031'").fetchone()
    # contact fields win, the lead fills gaps, created_at is the earliest record
    assert person == ("001A", "jane@acme.com", "Jane", "CTO", "2024-01-01 00:00:00")
    assert con.execute("SELECT person_id, account_id FROM touchpoints WHERE touchpoint_id = 't1'").fetchone() == ("0031", "001A")


def test_stage_events_and_contact_roles_are_remapped_and_deduplicated(con):
    _hand_example(con)
    stitch(con)
    assert con.execute("SELECT object_id, stage, entered_at::VARCHAR FROM stage_events ORDER BY stage").fetchall() == [
        ("0031", "mql", "2024-01-10 00:00:00"), ("0031", "sql", "2024-02-10 00:00:00"),
    ]
    assert con.execute("SELECT * FROM opportunity_contacts").fetchall() == [("006", "0031", "Decision Maker", True)]


def test_merged_person_keeps_promoted_dimensions_and_kept_columns(con):
    """People's `dimensions` (owner, region... promoted at ingest) and `attributes` survive the
    stitch: whole, from the most preferred CRM record that has them (the contact before its lead),
    a lone record's as they were, and a second stitch changes nothing."""
    _hand_example(con)
    con.execute("""UPDATE people SET dimensions = '{"owner": "Ann", "region": "EMEA"}', attributes = '{"Rating": "Hot"}'
                   WHERE person_id = '00Q1'""")
    con.execute("""UPDATE people SET dimensions = '{"owner": "Bea"}' WHERE person_id = '0031'""")
    con.execute("""UPDATE people SET dimensions = '{"owner": "Cy"}', attributes = '{"Fax": "1"}' WHERE person_id = '00Q2'""")
    stitch(con)
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT person_id, dimensions->>'$.owner', dimensions->>'$.region', attributes->>'$.Rating', attributes->>'$.Fax' "
        "FROM people WHERE person_id IN ('0031', '00Q2')").fetchall()}
    # the contact's dimensions win whole (no region: not merged key by key); the lead's kept
    # columns fill in where the contact has none
    assert rows["0031"] == ("Bea", None, "Hot", None)
    assert rows["00Q2"] == ("Cy", None, None, "1")
    before = _snapshot(con)
    stitch(con)
    assert _snapshot(con) == before


def test_group_call_joins_anonymous_person_to_account_by_domain(con):
    _hand_example(con)
    report = stitch(con)
    assert _person_of(con, "anonymous_id", "a9") == "u9"
    assert con.execute("SELECT account_id FROM people WHERE person_id = 'u9'").fetchone() == ("001B",)
    assert con.execute("SELECT account_id FROM touchpoints WHERE touchpoint_id = 't3'").fetchone() == ("001B",)
    assert report.account_sources == {"crm": 1, "email_domain": 1, "group": 1}


def test_group_call_by_account_id_wins_over_email_domain(con):
    con.execute("INSERT INTO accounts (account_id, domain) VALUES ('001A', 'acme.com'), ('001B', 'beta.io')")
    con.execute("INSERT INTO identity_links VALUES ('user_id', 'u1', 'email', 'x@acme.com', 's', NULL)")
    con.execute(
        "INSERT INTO events (message_id, type, user_id, group_id, occurred_at) VALUES "
        "('g1', 'group', 'u1', '001B', '2024-01-01'), ('g0', 'group', 'u1', '001A', '2023-01-01')"
    )
    stitch(con)
    # the latest group call names the account; email domain is weaker evidence
    assert con.execute("SELECT account_id FROM people WHERE person_id = 'u1'").fetchone() == ("001B",)


def test_email_domain_join_excludes_free_mail(con):
    _hand_example(con)
    stitch(con)
    assert con.execute("SELECT account_id FROM people WHERE person_id = '00Q2'").fetchone() == ("001B",)
    # carl@gmail.com must not join the account whose domain field says gmail.com
    assert con.execute("SELECT account_id FROM people WHERE person_id = '00Q3'").fetchone() == (None,)
    assert con.execute("SELECT account_id FROM touchpoints WHERE touchpoint_id = 't4'").fetchone() == (None,)


def test_email_on_a_subdomain_joins_the_account_of_its_registered_domain(con):
    con.execute(
        "INSERT INTO accounts (account_id, domain) VALUES ('001A', 'acme.com'), ('001E', 'emea.acme.com'), "
        "('001U', 'acme.co.uk'), ('001H', 'acme.github.io')"
    )
    con.execute(
        """INSERT INTO people (person_id, email, source_system) VALUES ('p1', 'a@eu.acme.com', 'sf'),
        ('p2', 'b@emea.acme.com', 'sf'), ('p3', 'c@sales.acme.co.uk', 'sf'), ('p4', 'd@co.uk', 'sf'),
        ('p5', 'e@beta.github.io', 'sf'), ('p6', 'f@mail.yahoo.co.uk', 'sf')"""
    )
    stitch(con)
    got = dict(con.execute("SELECT person_id, account_id FROM people").fetchall())
    # eu.acme.com -> acme.com (the account at the registered domain itself); an exact account wins
    assert got == {"p1": "001A", "p2": "001E", "p3": "001U", "p4": None, "p5": None, "p6": None}


def test_journey_key_on_a_subdomain_finds_the_account(con):
    from revline.journeys.timeline import resolve_key

    con.execute("INSERT INTO accounts (account_id, domain) VALUES ('001A', 'www.acme.com'), ('001U', 'acme.co.uk')")
    assert resolve_key(con, "eu.acme.com").id == "001A"
    assert resolve_key(con, "sales.acme.co.uk").id == "001U"
    with pytest.raises(KeyError):
        resolve_key(con, "other.co.uk")


def test_extra_free_mail_domains_are_honoured(con):
    con.execute("INSERT INTO accounts (account_id, domain) VALUES ('001X', 'isp.example')")
    con.execute("INSERT INTO people (person_id, email, source_system) VALUES ('0039', 'a@isp.example', 'sf')")
    stitch(con, free_mail=["isp.example"])
    assert con.execute("SELECT account_id FROM people").fetchone() == (None,)


def test_anonymous_only_visitor_gets_a_person_row(con):
    _hand_example(con)
    stitch(con)
    assert con.execute("SELECT person_id, source_system FROM people WHERE person_id = 'a5'").fetchone() == ("a5", "revline:identity")
    assert con.execute("SELECT person_id, account_id FROM touchpoints WHERE touchpoint_id = 't2'").fetchone() == ("a5", None)


def test_stitching_twice_changes_nothing(con):
    _hand_example(con)
    stitch(con)
    first = _snapshot(con)
    stitch(con)
    assert _snapshot(con) == first


def test_a_stitch_that_fails_at_its_last_step_leaves_the_store_as_it_was(con, monkeypatch):
    import importlib

    stitch_module = importlib.import_module("revline.identity.stitch")  # the package exports the function
    _hand_example(con)
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
              for t in (*STITCHED, "identity_links", "touchpoints")}

    def crash(_con):
        raise RuntimeError("killed after the write")

    monkeypatch.setattr(stitch_module, "supersede_source_touches", crash)
    with pytest.raises(RuntimeError, match="killed after the write"):
        stitch(con)
    after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before}
    assert after == before  # the CRM records' edges, the stitched tables and the touches: all rolled back
    monkeypatch.undo()
    stitch(con)  # and the store stitches cleanly afterwards
    assert con.execute("SELECT count(*) FROM identities").fetchone()[0] > 0


def test_colliding_names_across_types_stay_distinct_persons(con):
    # user_id 'x' and anonymous_id 'x' are different, unlinked identities
    con.execute(
        "INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, identity_type, identity_value) VALUES "
        "('t1', '2024-01-01', 'direct', 'user_id', 'x'), ('t2', '2024-01-01', 'direct', 'anonymous_id', 'x')"
    )
    stitch(con)
    assert _person_of(con, "user_id", "x") == "x"
    assert _person_of(con, "anonymous_id", "x") == "anonymous_id:x"
    assert con.execute("SELECT count(DISTINCT person_id) FROM touchpoints").fetchone() == (2,)


def test_touch_stated_person_without_identity_follows_lead_conversion(con):
    con.execute("INSERT INTO identity_links VALUES ('crm_lead_id', '00Q7', 'crm_contact_id', '0037', 'sf', NULL)")
    con.execute("INSERT INTO people (person_id, account_id, source_system) VALUES ('0037', '001Z', 'sf')")
    con.execute(
        "INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, person_id) VALUES ('t1', '2024-01-01', 'events', '00Q7')"
    )
    stitch(con)
    assert con.execute("SELECT person_id, account_id FROM touchpoints").fetchone() == ("0037", "001Z")


# --- properties ----------------------------------------------------------------------------

_TYPES = list(TYPE_PRIORITY)
_node = st.tuples(st.sampled_from(_TYPES), st.sampled_from(["a", "b", "c", "00Q1", "0031", "x@y.com"]))
_edges = st.lists(st.tuples(_node, _node).filter(lambda e: e[0] != e[1]), min_size=0, max_size=14, unique=True)


def _load_edges(con, edges, order_seed: int) -> None:
    rows = [(lt, lv, rt, rv, "s", None) for (lt, lv), (rt, rv) in edges]
    rnd = random.Random(order_seed)
    rnd.shuffle(rows)
    # orientation of an edge carries no meaning either
    rows = [r if rnd.random() < 0.5 else (r[2], r[3], r[0], r[1], r[4], r[5]) for r in rows]
    seen: set = set()
    for r in rows:
        key = frozenset([(r[0], r[1]), (r[2], r[3])])
        if key in seen:
            continue
        seen.add(key)
        con.execute("INSERT INTO identity_links VALUES (?, ?, ?, ?, ?, ?)", list(r))


def _oracle_components(edges) -> dict[tuple[str, str], frozenset]:
    """Union-find over the edges, emails compared case-insensitively as stitching does."""
    parent: dict = {}
    edges = [tuple((t, v.lower() if t == "email" else v) for t, v in e) for e in edges]

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict = {}
    for n in list(parent):
        groups.setdefault(find(n), set()).add(n)
    return {n: frozenset(g) for g in groups.values() for n in g}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges=_edges, seed_a=st.integers(0, 10**6), seed_b=st.integers(0, 10**6))
def test_merge_is_independent_of_edge_and_insertion_order(edges, seed_a, seed_b):
    results = []
    for seed in (seed_a, seed_b):
        c = connect(":memory:")
        _load_edges(c, edges, seed)
        stitch(c)
        results.append(c.execute("SELECT * EXCLUDE (first_seen_at) FROM identities ORDER BY ALL").fetchall())
        c.close()
    assert results[0] == results[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edges=_edges)
def test_persons_are_exactly_the_connected_components(edges):
    c = connect(":memory:")
    _load_edges(c, edges, 0)
    stitch(c)
    person = {(t, v): p for t, v, p in c.execute("SELECT identity_type, identity_value, person_id FROM identities").fetchall()}
    comps = _oracle_components(edges)
    assert set(person) == set(comps)
    for node, comp in comps.items():
        # same person iff connected (chains join; no two persons share an identity)
        assert {person[n] for n in comp} == {person[node]}
        best = min(comp, key=lambda n: (TYPE_PRIORITY[n[0]], n[1], n[0]))
        assert person[node] in (best[1], f"{best[0]}:{best[1]}")
    persons_by_comp = {comps[n]: person[n] for n in comps}
    assert len(set(persons_by_comp.values())) == len(persons_by_comp)
    # one people row per person
    rows = c.execute("SELECT person_id FROM people").fetchall()
    assert sorted(r[0] for r in rows) == sorted(set(persons_by_comp.values()))
    c.close()
