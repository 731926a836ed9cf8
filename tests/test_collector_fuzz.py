"""Fuzzing the collector (issue 20): random nested JSON, random timestamps, random and duplicate
keys, on every endpoint. Invariant: never a 5xx, and each message is either stored exactly once
(answer 200) or not at all (answer 4xx) — nothing acknowledged ends in quarantine."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import API_WRITE_KEY

AUTH = (API_WRITE_KEY, "")
KINDS = ["track", "page", "screen", "identify", "group", "alias"]
SPEC_KEYS = ["userId", "anonymousId", "event", "name", "type", "properties", "context", "traits", "timestamp",
             "originalTimestamp", "sentAt", "groupId", "previousId", "batch", "integrations"]


class Obj(list):
    """A JSON object as a list of (key, value) pairs: unlike a dict, it can repeat a key."""


def dump(value) -> str:
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, Raw):
        return value
    return json.dumps(value)


class Raw(str):
    """JSON text spliced in as is (deep nesting built without recursion)."""


timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + "z"),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "2026-03-01", "2026-13-01T00:00:00Z",
                     "20260301T100000", "2026-03-01T10:00:00.123456789-05:30", "yesterday", ""]),
)
keys = st.text(max_size=6) | st.sampled_from(SPEC_KEYS)
leaves = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=8) | timestamps
deep = st.integers(1, 90).map(lambda d: Raw('{"k":' * d + "1" + "}" * d))
values = st.recursive(leaves | deep, lambda c: st.lists(c, max_size=3) | st.lists(st.tuples(keys, c), max_size=3, unique_by=lambda kv: kv[0]).map(Obj),
                      max_leaves=10)


def _sometimes(draw, percent: int) -> bool:
    # a Random seeded by hypothesis, not integers(): hypothesis favours edge values, which made
    # almost every message carry a duplicate key
    return draw(st.randoms(use_true_random=True)).random() * 100 < percent


ids_text = st.text(min_size=1, max_size=8)

objects = st.lists(st.tuples(keys, values), max_size=4, unique_by=lambda kv: kv[0]).map(Obj)


@st.composite
def messages(draw, kind: str, mid: str) -> Obj:
    """Mostly loadable messages (so both outcomes are exercised), with random fields, types,
    timestamps, nesting and now and then a key twice."""
    pairs = Obj([("messageId", mid)])
    if _sometimes(draw, 90):
        pairs.append(("userId", draw(ids_text) if _sometimes(draw, 90) else draw(values)))
    for field, strategy, percent in (("anonymousId", ids_text, 50), ("event", ids_text, 85), ("timestamp", timestamps, 70),
                                     ("properties", objects | values, 70), ("previousId", ids_text, 70), ("groupId", ids_text, 70)):
        if _sometimes(draw, percent):
            pairs.append((field, draw(strategy)))
    pairs += [kv for kv in draw(st.lists(st.tuples(keys, values), max_size=2, unique_by=lambda kv: kv[0]))
              if kv[0] not in {k for k, _ in pairs}]
    if kind != "?" and _sometimes(draw, 25):
        pairs.append(("type", kind))
    if _sometimes(draw, 15):  # a key twice in one object
        pairs.append((draw(st.sampled_from([k for k, _ in pairs])), draw(values)))
    return pairs


_ids = (f"fz-{i}" for i in itertools.count())


def _sent_time(msg: Obj) -> datetime | None:
    """The UTC time the loader must store for `msg` (its `timestamp`, else `originalTimestamp`),
    when Python can represent it; None when the message has neither or it is out of range."""
    fields = dict(msg)
    sent = fields.get("timestamp") if fields.get("timestamp") is not None else fields.get("originalTimestamp")
    if not isinstance(sent, str):
        return None
    try:
        at = datetime.fromisoformat(sent[:-1] + "Z" if sent.endswith("z") else sent)
        return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at
    except (ValueError, OverflowError):
        return None


@st.composite
def requests(draw):
    endpoint = draw(st.sampled_from([*KINDS, "batch"]))
    if endpoint != "batch":
        mid = next(_ids)
        msg = draw(messages(endpoint, mid))
        return endpoint, dump(msg), {mid: _sent_time(msg)}
    items, ids = [], {}
    for _ in range(draw(st.integers(0, 3))):
        mid = next(_ids)
        msg = draw(messages("?", mid))
        msg.insert(0, ("type", draw(st.sampled_from(KINDS)) if _sometimes(draw, 95) else "nope"))
        items.append(msg)
        ids[mid] = _sent_time(msg)
    body = Obj([("batch", items)] + [kv for kv in draw(st.lists(st.tuples(keys, values), max_size=2, unique_by=lambda kv: kv[0]))
                                     if kv[0] != "batch"])
    return endpoint, dump(body), ids


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=requests())
def test_every_message_is_stored_once_or_refused_with_a_4xx(api_client, request):
    client, app = api_client
    endpoint, body, ids = request
    r = client.post(f"/v1/{endpoint}", content=body.encode("utf-8", "surrogatepass"), auth=AUTH,
                    headers={"Content-Type": "application/json"})
    assert r.status_code < 500, (r.status_code, r.text, body[:300])
    assert r.status_code in (200, 400, 413), (r.status_code, r.text)
    event(f"status {r.status_code} {r.json().get('error', '')[:40]}")
    assert app.state.collector.flush()
    cur = app.state.con.cursor()
    try:
        stored = cur.execute("SELECT message_id, count(*), min(occurred_at)::VARCHAR FROM events WHERE message_id IN "
                             "(SELECT unnest(?::VARCHAR[])) GROUP BY 1", [list(ids)]).fetchall()
        quarantined = cur.execute("SELECT count(*), any_value(reason) FROM quarantine WHERE source LIKE 'collector:%'"
                                  ).fetchone()
    finally:
        cur.close()
    assert quarantined[0] == 0, f"acknowledged but quarantined: {quarantined[1]} for {body[:300]}"
    counts = {m: n for m, n, _ in stored}
    if r.status_code == 200:
        # a message whose messageId is repeated as a key is refused, so each id is its own
        assert counts == {m: 1 for m in ids}, (counts, body[:300])
        # and its time is the one it was sent with (never silently the receive time)
        for m, _, at in stored:
            if ids[m] is not None:
                assert datetime.fromisoformat(at) == ids[m], (m, at, body[:300])
    else:
        assert counts == {}, (r.text, body[:300])
        assert r.json()["success"] is False and r.json()["error"]
