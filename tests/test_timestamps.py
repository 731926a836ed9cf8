"""Issue 20 D6: a plausibility window on event timestamps (collector and Segment file ingest), a
lowercase 'z' read as UTC, and journeys that survive any stored date."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from conftest import API_READ_KEY, API_WRITE_KEY
from revline.ingest.timewindow import TimeWindow

AUTH = (API_WRITE_KEY, "")
READ = {"Authorization": f"Bearer {API_READ_KEY}"}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(d: datetime, suffix: str = "Z") -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + suffix


def _rows(con, sql, params=()):
    cur = con.cursor()
    try:
        return cur.execute(sql, list(params)).fetchall()
    finally:
        cur.close()


@pytest.mark.parametrize("api_client", [True], indirect=True)
def test_a_timestamp_outside_the_window_dates_the_touch_by_its_receipt(api_client):
    client, app = api_client
    recent = _now() - timedelta(days=3)
    sent = {"bc": "0001-01-01T00:00:00+14:00", "far": "9999-12-31T23:59:59-14:00",
            "old": _iso(_now() - timedelta(days=800)), "ahead": _iso(_now() + timedelta(days=2)),
            "ok": _iso(recent), "lower-z": _iso(recent, "z")}
    for name, ts in sent.items():
        body = {"messageId": f"ts-{name}", "userId": "u-ann", "name": "Home", "timestamp": ts}
        assert client.post("/v1/page", json=body, auth=AUTH).status_code == 200
    assert app.state.collector.flush()
    got = {m: (ev, rcv, tp, flag) for m, ev, rcv, tp, flag in _rows(app.state.con, (
        "SELECT e.message_id, CAST(e.occurred_at AS VARCHAR), e.received_at, t.occurred_at, t.time_flag "
        "FROM events e JOIN touchpoints t ON t.touchpoint_id = e.message_id WHERE e.message_id LIKE 'ts-%'"))}
    assert set(got) == {f"ts-{n}" for n in sent}
    # kept on the event as sent (in UTC), the touch at the receive time, flagged
    assert got["ts-bc"][0] == "0001-12-31 (BC) 10:00:00" and got["ts-far"][0] == "10000-01-01 13:59:59"
    for name in ("bc", "far", "old", "ahead"):
        _, received, touch_at, flag = got[f"ts-{name}"]
        assert (touch_at, flag) == (received, "received_at"), name
    # inside the window: the time as sent; a lowercase z is UTC, not the receive time
    for name in ("ok", "lower-z"):
        _, received, touch_at, flag = got[f"ts-{name}"]
        assert (touch_at, flag) == (recent, None), name
    assert datetime.fromisoformat(got["ts-lower-z"][0]) == recent


@pytest.mark.parametrize("api_client", [True], indirect=True)
def test_the_window_is_configurable(api_client, monkeypatch):
    monkeypatch.setenv("REVLINE_TIMESTAMP_PAST_DAYS", "10")
    monkeypatch.setenv("REVLINE_TIMESTAMP_FUTURE_DAYS", "0.5")
    client, app = api_client
    for name, delta in (("20d", -20), ("5d", -5), ("+1d", 1)):
        body = {"messageId": f"win-{name}", "userId": "u", "name": "Home", "timestamp": _iso(_now() + timedelta(days=delta))}
        assert client.post("/v1/page", json=body, auth=AUTH).status_code == 200
    assert app.state.collector.flush()
    flags = dict(_rows(app.state.con, "SELECT touchpoint_id, time_flag FROM touchpoints WHERE touchpoint_id LIKE 'win-%'"))
    assert flags == {"win-20d": "received_at", "win-5d": None, "win-+1d": "received_at"}


def test_a_bad_window_setting_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("REVLINE_TIMESTAMP_PAST_DAYS", "two years")
    with pytest.raises(ValueError, match="REVLINE_TIMESTAMP_PAST_DAYS must be a number of days"):
        TimeWindow.from_env()
    with pytest.raises(ValueError, match="past_days"):
        TimeWindow(past_days=-1)


def test_segment_files_follow_the_same_rule(tmp_path):
    from revline.ingest.loader import load_files
    from revline.store import connect

    received = _now() - timedelta(days=1)
    lines = [
        {"messageId": "f-bc", "type": "page", "userId": "u", "timestamp": "0001-01-01T00:00:00+14:00",
         "receivedAt": _iso(received)},
        {"messageId": "f-ok", "type": "page", "userId": "u", "timestamp": _iso(received - timedelta(hours=1)),
         "receivedAt": _iso(received)},
        # no receivedAt: a backfill of old history stays as sent; before 1970 or in the future does not
        {"messageId": "f-2019", "type": "page", "userId": "u", "timestamp": "2019-05-01T10:00:00Z"},
        {"messageId": "f-1960", "type": "page", "userId": "u", "timestamp": "1960-05-01T10:00:00Z"},
        {"messageId": "f-2999", "type": "track", "event": "Clicked", "userId": "u", "timestamp": "2999-05-01T10:00:00Z"},
        {"messageId": "f-lower-z", "type": "page", "userId": "u", "timestamp": "2019-05-01T10:00:00z"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    con = connect(tmp_path / "s.duckdb")
    before = _now()
    load_files(con, [path])
    got = {m: (str(ev), tp, flag) for m, ev, tp, flag in con.execute(
        "SELECT e.message_id, CAST(e.occurred_at AS VARCHAR), t.occurred_at, t.time_flag "
        "FROM events e JOIN touchpoints t ON t.touchpoint_id = e.message_id").fetchall()}
    assert len(got) == len(lines)
    assert got["f-bc"][0].endswith("(BC) 10:00:00") and got["f-bc"][1:] == (received, "received_at")
    assert got["f-ok"][1:] == (received - timedelta(hours=1), None)
    assert got["f-2019"][1:] == (datetime(2019, 5, 1, 10), None)
    assert got["f-lower-z"][1:] == (datetime(2019, 5, 1, 10), None)
    for name in ("f-1960", "f-2999"):  # dated by the ingest
        _, touch_at, flag = got[name]
        assert flag == "received_at" and before - timedelta(seconds=1) <= touch_at <= _now(), name
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


@pytest.mark.parametrize("api_client", [True], indirect=True)
def test_journeys_survive_any_stored_date(api_client, tmp_path):
    """The issue's repro: a 1 BC page view of a known user; after stitch the account's journey
    endpoint answered 500 and `revline journey` crashed. Also touches stored as 1 BC and year
    10000 by other means (a CRM file, a canonical dump) must not break them."""
    from revline.identity import stitch
    from revline.journeys import build

    client, app = api_client
    assert client.post("/v1/identify", json={"userId": "u-ann", "traits": {"email": "ann@acme.com"}},
                       auth=AUTH).status_code == 200
    assert client.post("/v1/page", json={"messageId": "bc-page", "userId": "u-ann", "name": "Home",
                                         "timestamp": "0001-01-01T00:00:00+14:00"}, auth=AUTH).status_code == 200
    assert app.state.collector.flush()
    cur = app.state.con.cursor()
    cur.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel, touch_type) VALUES "
                "('crm-bc', TIMESTAMP '0000-12-31 10:00:00', 'P1', 'A1', 'events', 'event'), "
                "('crm-far', TIMESTAMP '10000-01-01 13:59:59', 'P1', 'A1', 'events', 'event')")
    # under the loader's write lock, as the server's own jobs run: the live pipeline writes too
    with app.state.collector.loader.write_lock:
        stitch(cur)
        build(cur)
    cur.close()
    r = client.get("/api/accounts/A1/journey", headers=READ)
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    refs = [e["ref"] for e in events]
    assert {"bc-page", "crm-bc", "crm-far"} <= set(refs)
    assert refs[0] == "crm-bc" and refs[-1] == "crm-far"  # in their true order, shown at the nearest representable time
    assert events[0]["occurred_at"].startswith("0001-01-01") and events[-1]["occurred_at"].startswith("9999-12-31")
    page = next(e for e in events if e["ref"] == "bc-page")
    assert page["occurred_at"][:4] == str(_now().year)  # the touch is dated by its receipt
    # and the first-touch milestone is not the forged touch
    first = _rows(app.state.con, "SELECT touchpoint_id FROM milestones WHERE milestone = 'first_touch' AND object_id = 'P1'")
    assert first and first[0][0] != "bc-page"



def test_revline_journey_survives_any_stored_date(api_store):
    from revline.cli import app as cli
    from revline.store import connect

    con = connect(api_store)
    con.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel, touch_type) VALUES "
                "('crm-bc', TIMESTAMP '0000-12-31 10:00:00', 'P1', 'A1', 'events', 'event'), "
                "('crm-far', TIMESTAMP '10000-01-01 13:59:59', 'P1', 'A1', 'events', 'event')")
    con.close()
    result = CliRunner().invoke(cli, ["journey", "A1", "--db", str(api_store), "--limit", "0"])
    assert result.exit_code == 0, result.output
    assert "0001-01-01" in result.output and "9999-12-31" in result.output
