"""Segment-compatible collector: auth, validation (4xx, never 5xx), size limits, dedupe, batches,
write-ahead-log replay after a crash, touchpoint hand-off."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import API_READ_KEY, API_WRITE_KEY
from revline.api.event_loader import EventLoader, load_segment
from revline.api.wal import WriteAheadLog, list_segments, truncate_torn_tail
from revline.store import connect

AUTH = (API_WRITE_KEY, "")


def _events(app, where: str = "TRUE", params=None):
    cur = app.state.con.cursor()
    try:
        result = cur.execute(f"SELECT * FROM events WHERE {where} ORDER BY message_id", params or [])
        names = [d[0] for d in result.description]
        return [dict(zip(names, r)) for r in result.fetchall()]
    finally:
        cur.close()


def _post(client, kind, body, auth=AUTH):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/v1/{kind}", content=data, auth=auth, headers={"Content-Type": "application/json"})


MESSAGES = {
    "track": {"userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}},
    "page": {"anonymousId": "a1", "name": "Pricing", "properties": {"path": "/pricing"},
             "context": {"campaign": {"source": "google", "medium": "cpc", "name": "C1"}}},
    "identify": {"userId": "u1", "anonymousId": "a1", "traits": {"email": "ann@acme.com"}},
    "group": {"userId": "u1", "groupId": "acme.com", "traits": {"name": "Acme"}},
    "alias": {"userId": "u1", "previousId": "a1"},
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_each_endpoint_stores_the_message(api_client, kind):
    client, app = api_client
    body = {**MESSAGES[kind], "messageId": f"msg-{kind}", "timestamp": "2026-03-01T12:30:00.250+01:00"}
    r = _post(client, kind, body)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert app.state.collector.flush()
    [row] = _events(app, "message_id = ?", [f"msg-{kind}"])
    assert row["type"] == kind
    assert str(row["occurred_at"]) == "2026-03-01 11:30:00.250000"  # converted to naive UTC
    assert row["user_id"] == body.get("userId") and row["anonymous_id"] == body.get("anonymousId")
    assert row["group_id"] == body.get("groupId") and row["previous_id"] == body.get("previousId")
    for field in ("properties", "traits", "context"):
        assert (json.loads(row[field]) if row[field] else None) == body.get(field)


@pytest.mark.parametrize("auth,header", [
    (None, None), (("wrong", ""), None), (None, f"Bearer {API_WRITE_KEY}"), (None, "Basic !!!notbase64"),
    ((API_READ_KEY, ""), None),
])
def test_write_key_is_required(api_client, auth, header):
    client, app = api_client
    headers = {"Authorization": header} if header else {}
    r = client.post("/v1/track", json=MESSAGES["track"], auth=auth, headers=headers)
    assert r.status_code == 401 and "write key" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Basic")


BAD = [
    (b"{not json", "malformed JSON"),
    (b"", "empty body"),
    (b"[1, 2]", "JSON object"),
    (b'{"userId": "u1", "event": "x", "v": NaN}', "NaN"),
    (b'\xff\xfe{"userId": 1}', "UTF-8"),
    (b'{"userId": "u1", "event": "\\ud800"}', "surrogate"),
    (json.dumps({"userId": 42, "event": "x"}).encode(), "'userId' must be a string"),
    (json.dumps({"userId": "u", "event": "x", "properties": [1]}).encode(), "'properties' must be an object"),
    (json.dumps({"userId": "u", "event": "x", "timestamp": "yesterday"}).encode(), "'timestamp'"),
    (json.dumps({"userId": "u", "event": "x", "timestamp": "2026-02-30T00:00:00Z"}).encode(), "'timestamp'"),
    (json.dumps({"event": "x"}).encode(), "'userId' or 'anonymousId'"),
    (json.dumps({"userId": "u"}).encode(), "'event'"),
    (json.dumps({"userId": "u", "event": "x", "messageId": ""}).encode(), "messageId"),
    (json.dumps({"userId": "u", "event": "x", "type": "page"}).encode(), "endpoint"),
]


@pytest.mark.parametrize("body,reason", BAD, ids=[r for _, r in BAD])
def test_bad_input_gets_400_with_a_reason(api_client, body, reason):
    client, app = api_client
    r = _post(client, "track", body)
    assert r.status_code == 400
    assert reason in r.json()["error"]


@pytest.mark.parametrize("kind,body,reason", [
    ("group", {"userId": "u"}, "groupId"),
    ("alias", {"userId": "u"}, "previousId"),
    ("batch", {"batch": {"type": "track"}}, "array"),
    ("batch", {"batch": [{"type": "screenshot", "userId": "u"}]}, "batch[0]: field 'type'"),
    ("batch", {"batch": [MESSAGES["track"] | {"type": "track"}, {"type": "track", "userId": "u"}]}, "batch[1]"),
    ("batch", {"batch": [], "context": "x"}, "'context' must be an object"),
])
def test_endpoint_specific_rules(api_client, kind, body, reason):
    client, _ = api_client
    r = _post(client, kind, body)
    assert r.status_code == 400 and reason in r.json()["error"]


def test_size_limits_follow_segment(api_client):
    client, app = api_client
    big = {"userId": "u", "event": "x", "properties": {"blob": "x" * (32 * 1024)}}
    assert _post(client, "track", big).status_code == 413
    small_enough = {"userId": "u", "event": "x", "properties": {"blob": "x" * (30 * 1024)}}
    assert _post(client, "track", small_enough).status_code == 200
    # a batch under 500 KB holding one message over 32 KB
    batch = {"batch": [{"type": "track", **big}]}
    r = _post(client, "batch", batch)
    assert r.status_code == 413 and "batch[0]" in r.json()["error"]
    # a batch over 500 KB made of small messages
    many = {"batch": [{"type": "track", "userId": "u", "event": "x", "properties": {"b": "y" * 20_000}}] * 26}
    assert _post(client, "batch", many).status_code == 413


def test_retries_are_deduplicated_by_message_id(api_client):
    client, app = api_client
    body = MESSAGES["track"] | {"messageId": "retry-1"}
    for _ in range(3):
        assert _post(client, "track", body).status_code == 200
    batch = {"batch": [MESSAGES["page"] | {"type": "page", "messageId": f"b-{i}"} for i in range(10)]}
    for _ in range(2):
        assert _post(client, "batch", batch).status_code == 200
    app.state.collector.flush()
    assert len(_events(app, "message_id = 'retry-1'")) == 1
    assert len(_events(app, "message_id LIKE 'b-%'")) == 10


def test_missing_message_id_gets_a_content_hash(api_client):
    client, app = api_client
    body = MESSAGES["identify"] | {"timestamp": "2026-01-01T00:00:00Z"}
    for _ in range(2):  # a retry of the same message without messageId
        assert _post(client, "identify", body).status_code == 200
    other = body | {"traits": {"email": "other@acme.com"}}
    assert _post(client, "identify", other).status_code == 200
    app.state.collector.flush()
    rows = _events(app, "type = 'identify'")
    assert len(rows) == 2 and all(r["message_id"].startswith("rl-") for r in rows)


def test_batch_unnests_and_merges_shared_context(api_client):
    client, app = api_client
    batch = {"context": {"library": {"name": "test"}, "ip": "127.0.0.1"},
             "batch": [{"type": k, "messageId": f"mix-{k}", **MESSAGES[k]} for k in MESSAGES]}
    batch["batch"][1]["context"] = {"ip": "10.0.0.1"} | batch["batch"][1].get("context", {})
    assert _post(client, "batch", batch).status_code == 200
    app.state.collector.flush()
    rows = {r["message_id"]: r for r in _events(app, "message_id LIKE 'mix-%'")}
    assert {r["type"] for r in rows.values()} == set(MESSAGES)
    page_ctx = json.loads(rows["mix-page"]["context"])
    assert page_ctx["ip"] == "10.0.0.1" and page_ctx["library"] == {"name": "test"}  # message wins, rest merged
    assert page_ctx["campaign"]["source"] == "google"
    assert json.loads(rows["mix-track"]["context"])["ip"] == "127.0.0.1"


def test_cors_preflight_and_method_rules(api_client):
    client, _ = api_client
    r = client.options("/v1/page", headers={"Origin": "https://www.example.com", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    assert "authorization" in r.headers["access-control-allow-headers"]
    assert client.get("/v1/track").status_code == 405
    assert client.post("/v1/nope", json={}, auth=AUTH).status_code == 404


def test_tracker_script_is_served(api_client):
    client, _ = api_client
    r = client.get("/revline.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "rl_anon_id" in r.text and "/v1/page" in r.text and "data-write-key" in r.text


_ids = (f"prop-{i}" for i in itertools.count())
json_leaf = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20)
json_obj = st.dictionaries(st.text(max_size=10), st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=8), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["track", "page", "identify", "group", "alias", "batch"]),
       body=st.one_of(json_obj, st.binary(max_size=200), st.text(max_size=100).map(str.encode)))
def test_arbitrary_input_never_gets_a_5xx(api_client, kind, body):
    client, _ = api_client
    data = body if isinstance(body, bytes) else json.dumps(body)
    r = _post(client, kind, data)
    assert r.status_code in (200, 400, 413)
    assert "success" in r.json()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.text(min_size=1, max_size=30), event=st.text(min_size=1, max_size=30), props=json_obj)
def test_accepted_messages_round_trip(api_client, user, event, props):
    """Invariant: what was acknowledged is stored field for field."""
    client, app = api_client
    mid = next(_ids)  # unique per example: the store outlives hypothesis examples
    body = {"userId": user, "event": event, "properties": props, "messageId": str(mid)}
    assert _post(client, "track", body).status_code == 200
    app.state.collector.flush()
    [row] = _events(app, "message_id = ?", [str(mid)])
    assert (row["user_id"], row["event"]) == (user, event)
    assert json.loads(row["properties"]) == props


# ------------------------------------------------------------------ write-ahead log
def _record(i: int, body: dict) -> bytes:
    return (json.dumps({"rid": f"r{i}", "rt": "2026-01-01 00:00:00", "k": "track", "b": body}) + "\n").encode()


def test_unloaded_segments_are_replayed_at_start(tmp_path):
    db = tmp_path / "s.duckdb"
    sealed: list[Path] = []
    wal = WriteAheadLog(tmp_path / "wal", sealed.append, segment_seconds=3600)
    for i in range(5):
        wal.write_sync(_record(i, {"userId": "u", "event": "e", "messageId": f"m{i}"}))
    wal.seal_now()
    wal.write_sync(_record(9, {"userId": "u", "event": "e", "messageId": "m9"}))  # still open: "crash" here
    assert len(list_segments(tmp_path / "wal")) == 2
    con = connect(db)
    loader = EventLoader(con)
    assert loader.recover(tmp_path / "wal") == 6
    assert list_segments(tmp_path / "wal") == []
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 6
    # replaying the same records again changes nothing
    (tmp_path / "wal" / "segment-000000000099.jsonl").write_bytes(b"".join(_record(i, {"userId": "u", "event": "e", "messageId": f"m{i}"}) for i in range(5)))
    assert loader.recover(tmp_path / "wal") == 0
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 6


def test_torn_last_line_is_cut(tmp_path):
    seg = tmp_path / "segment-000000000001.jsonl"
    good = _record(1, {"userId": "u", "event": "e", "messageId": "ok"})
    seg.write_bytes(good + good.replace(b"ok", b"torn")[:30])
    assert truncate_torn_tail(seg) == 30
    con = connect(tmp_path / "s.duckdb")
    assert load_segment(con, seg) == ["ok"]


def test_a_bad_record_goes_to_quarantine_and_the_rest_loads(tmp_path):
    seg = tmp_path / "segment-000000000001.jsonl"
    bad = b'{"rid":"x","rt":"not a time","k":"track","b":{"userId":"u","event":"e","messageId":"oops"}}\n'
    seg.write_bytes(_record(1, {"userId": "u", "event": "e", "messageId": "a"}) + bad
                    + _record(2, {"userId": "u", "event": "e", "messageId": "b"}))
    con = connect(tmp_path / "s.duckdb")
    assert sorted(load_segment(con, seg)) == ["a", "b"]
    [(source, row_number, raw)] = con.execute("SELECT source, row_number, raw FROM quarantine").fetchall()
    assert row_number == 2 and "oops" in raw and source.endswith(seg.name)


@pytest.mark.parametrize("api_client", [True], indirect=True)
def test_collected_page_views_become_touchpoints(api_client):
    client, app = api_client
    body = {"messageId": "tp-1", "anonymousId": "anon-9", "timestamp": "2026-03-02T08:00:00Z", "name": "Pricing",
            "context": {"campaign": {"source": "google", "medium": "cpc", "name": "C1"},
                        "page": {"url": "https://acme.example/pricing", "referrer": "https://www.google.com/"}}}
    assert _post(client, "page", body).status_code == 200
    assert _post(client, "identify", {"anonymousId": "anon-9", "userId": "user-9", "messageId": "id-1",
                                      "traits": {"email": "Nine@Acme.com"}}).status_code == 200
    assert app.state.collector.flush()
    cur = app.state.con.cursor()
    row = cur.execute("SELECT channel, campaign_id, touch_type, anonymous_id, occurred_at FROM touchpoints "
                      "WHERE touchpoint_id = 'tp-1'").fetchone()
    assert row is not None, "the page view was not derived into a touchpoint"
    assert row[1:4] == ("C1", "page_view", "anon-9") and row[0] == "paid_search"
    links = cur.execute("SELECT right_type, right_value FROM identity_links WHERE left_value = 'anon-9'").fetchall()
    assert ("user_id", "user-9") in links


# ------------------------------------------------------------------ D1: derivation owed survives a crash
_TOUCHLESS = ("SELECT count(*) FROM events e WHERE e.type IN ('page', 'screen', 'track') "
              "AND NOT EXISTS (SELECT 1 FROM touchpoints t WHERE t.touchpoint_id = e.message_id)")


def _page_record(i: int, mid: str) -> bytes:
    body = {"type": "page", "anonymousId": "a-crash", "messageId": mid, "name": "Pricing",
            "timestamp": "2026-03-01T12:00:00Z"}
    return (json.dumps({"rid": f"r{i}", "rt": "2026-03-01 12:00:01", "k": "page", "b": body}) + "\n").encode()


def test_events_loaded_but_not_derived_at_a_crash_are_derived_at_the_next_start(tmp_path):
    """Issue 20 D1: m-A is loaded and derived, m-B loaded, then the process dies before its
    derivation (the loader derives every few seconds). The restart must derive m-B."""
    db, wal = tmp_path / "s.duckdb", tmp_path / "wal"
    wal.mkdir()
    con = connect(db)
    loader = EventLoader(con, derive=True)
    (wal / "segment-000000000001.jsonl").write_bytes(_page_record(1, "m-A"))
    loader.recover(wal)  # loads and derives m-A
    seg = wal / "segment-000000000002.jsonl"
    seg.write_bytes(_page_record(2, "m-B"))
    assert load_segment(loader.con, seg) == ["m-B"]  # stored: the loader's next step would be the derivation
    seg.unlink()
    con.close()  # ... which never comes: the process is killed here

    con = connect(db)
    assert con.execute(_TOUCHLESS).fetchone()[0] == 1
    EventLoader(con, derive=True).recover(wal)  # the restart (no segment left to replay)
    assert con.execute(_TOUCHLESS).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM events_to_derive").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM touchpoints WHERE touchpoint_id IN ('m-A', 'm-B')").fetchone()[0] == 2


def test_revline_stitch_derives_what_the_collector_still_owed(tmp_path):
    from typer.testing import CliRunner

    from revline.cli import app as cli

    db, wal = tmp_path / "s.duckdb", tmp_path / "wal"
    wal.mkdir()
    con = connect(db)
    seg = wal / "segment-000000000001.jsonl"
    identify = {"type": "identify", "anonymousId": "a-crash", "userId": "u-crash", "messageId": "id-1"}
    seg.write_bytes(_page_record(1, "m-B") + (json.dumps(
        {"rid": "r2", "rt": "2026-03-01 12:00:02", "k": "identify", "b": identify}) + "\n").encode())
    assert sorted(load_segment(con, seg)) == ["id-1", "m-B"]
    con.close()
    result = CliRunner().invoke(cli, ["stitch", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "collected events derived now" in result.output
    con = connect(db)
    assert con.execute(_TOUCHLESS).fetchone()[0] == 0
    # the identify's link was owed too, and stitching used it: the page view has its person
    person = con.execute("SELECT person_id FROM touchpoints WHERE touchpoint_id = 'm-B'").fetchone()[0]
    assert person is not None
    assert con.execute("SELECT count(*) FROM identity_links WHERE left_value = 'a-crash' AND right_value = 'u-crash'"
                       ).fetchone()[0] == 1


def test_migration_6_queues_touch_events_an_older_version_left_underived(tmp_path):
    from revline.store import migrate

    db = tmp_path / "old.duckdb"
    import duckdb

    con = duckdb.connect(str(db))
    migrate(con, target=5)
    con.execute("INSERT INTO events (message_id, type, anonymous_id, occurred_at, source) VALUES "
                "('lost', 'page', 'a1', TIMESTAMP '2026-01-01', 'collector'), "
                "('done', 'page', 'a1', TIMESTAMP '2026-01-01', 'collector'), "
                "('idf', 'identify', 'a1', TIMESTAMP '2026-01-01', 'collector')")
    con.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, channel) VALUES ('done', TIMESTAMP '2026-01-01', 'direct')")
    con.close()
    con = connect(db)
    assert sorted(r[0] for r in con.execute("SELECT message_id FROM events_to_derive").fetchall()) == ["idf", "lost"]
    from revline.ingest.pending import derive_owed

    assert derive_owed(con) == 2
    assert con.execute(_TOUCHLESS).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 2


# ------------------------------------------------------------------ D4, D5, D9: refused before the 200
def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [65, 300, 990, 5000])
def test_deep_nesting_gets_a_400_with_the_reason_never_a_500(api_client, depth):
    """Issue 20 D4: a /v1/batch body over 32 KB whose properties nest ~990 deep raised RecursionError."""
    client, app = api_client
    pad = {"type": "track", "userId": "u", "event": "e", "properties": {"pad": "x" * 40_000}}
    deep = '{"type":"track","userId":"u","event":"e","messageId":"deep-1","properties":' + _nested(depth) + "}"
    body = '{"batch":[' + deep + "," + json.dumps(pad) + "]}"
    assert len(body) > 32 * 1024
    for kind, data in (("batch", body), ("track", deep)):
        r = _post(client, kind, data)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "JSON nested deeper than 64 levels"
    app.state.collector.flush()
    assert _events(app, "message_id = 'deep-1'") == []


def test_nesting_within_the_limit_is_stored(api_client):
    client, app = api_client
    body = '{"userId":"u","event":"e","messageId":"ok-deep","properties":' + _nested(62) + "}"  # 64 levels in all
    assert _post(client, "track", body).status_code == 200
    # brackets inside strings do not count as nesting
    assert _post(client, "track", {"userId": "u", "event": "e", "messageId": "ok-brackets",
                                   "properties": {"s": "[" * 500 + "{" * 500}}).status_code == 200
    app.state.collector.flush()
    assert len(_events(app, "message_id IN ('ok-deep', 'ok-brackets')")) == 2


@pytest.mark.parametrize("kind,body,key", [
    ("track", '{"userId":"u","userId":"v","event":"e","messageId":"dup-1"}', "userId"),
    ("track", '{"userId":"u","event":"e","messageId":"dup-2","properties":{"a":1,"a":2}}', "a"),
    ("track", '{"userId":"u","\\u0075serId":"v","event":"e","messageId":"dup-3"}', "userId"),  # escaped
    ("track", '{"userId" : "u", "userId":"v", "url":"http://x:1", "event":"e","messageId":"dup-4"}', "userId"),
    ("batch", '{"batch":[{"type":"track","userId":"u","userId":"x","event":"e","messageId":"dup-5"}]}', "userId"),
    ("batch", '{"batch":[{"type":"track","userId":"u","event":"e","messageId":"dup-6"}],"context":{},"context":{}}',
     "context"),
])
def test_duplicate_keys_get_a_400_naming_the_key(api_client, kind, body, key):
    """Issue 20 D5: a 200, then quarantined by the loader (DuckDB refuses a repeated Spec field)."""
    client, app = api_client
    r = _post(client, kind, body)
    assert r.status_code == 400 and f"duplicate key {key!r}" in r.json()["error"], r.text
    # the same on a batch above 32 KB (another parse path)
    if kind == "batch":
        big = body[:-1] + ',"pad":"' + "x" * 40_000 + '"}'
        r = _post(client, kind, big)
        assert r.status_code == 400 and "duplicate key" in r.json()["error"], r.text
    app.state.collector.flush()
    assert _events(app, "message_id LIKE 'dup-%'") == []


@pytest.mark.parametrize("kind", ["track", "page", "identify"])
@pytest.mark.parametrize("batch", [5, "x", {"a": 1}, [1], []])
def test_a_batch_field_outside_v1_batch_gets_a_400(api_client, kind, batch):
    """Issue 20 D5: a non-array `batch` field on /v1/track got a 200 and was quarantined."""
    client, app = api_client
    r = _post(client, kind, {**MESSAGES[kind], "messageId": "b-field", "batch": batch})
    assert r.status_code == 400 and "'batch'" in r.json()["error"]


def test_a_5000_digit_number_gets_a_json_reason(api_client):
    """Issue 20 D9: the reason was 'invalid Content-Length header'."""
    client, _ = api_client
    r = _post(client, "track", '{"userId":"u","event":"e","properties":{"n":' + "9" * 5000 + "}}")
    assert r.status_code == 400
    assert "Content-Length" not in r.json()["error"] and "digits" in r.json()["error"]


def test_one_bad_line_costs_a_few_bulk_loads_not_one_per_line(tmp_path, monkeypatch):
    """Issue 20 D5: each record the loader could not read sent its whole segment line by line."""
    import revline.api.event_loader as el

    calls = []
    real = el._insert_sql
    monkeypatch.setattr(el, "_insert_sql", lambda source: calls.append(source) or real(source))
    seg = tmp_path / "segment-000000000001.jsonl"
    n = 1024
    lines = [_record(i, {"userId": "u", "event": "e", "messageId": f"g{i}"}) for i in range(n)]
    lines[700] = b'{"rid":"x","rt":"2026-01-01 00:00:00","k":"track","b":{"userId":"u","userId":"v","messageId":"bad"}}\n'
    seg.write_bytes(b"".join(lines))
    con = connect(tmp_path / "s.duckdb")
    assert len(load_segment(con, seg)) == n - 1
    assert len(calls) <= 2 * 10 + 1, len(calls)  # the whole, then two halves per level down to one line
    [(row_number, raw)] = con.execute("SELECT row_number, raw FROM quarantine").fetchall()
    assert row_number == 701 and '"bad"' in raw
    assert con.execute("SELECT count(*) FROM events_to_derive").fetchone()[0] == n - 1
