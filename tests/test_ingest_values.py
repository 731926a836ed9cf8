"""revline.ingest.values: formatted numbers and locale dates, decided per column (issues 12 and 20 D2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.ingest.values import (
    AmbiguousDates,
    ParseOptions,
    decide_date_order,
    decide_decimal,
    number_sql,
    timestamp_sql,
)

_CON = duckdb.connect()

# (decimal separator, thousands separator) of each style
STYLES = {"en": (".", ","), "de": (",", "."), "fr": (",", "\u202f"), "fr_space": (",", " "), "ch": (".", "'")}


def fmt_number(x: Decimal, style: str, decorate: int = 0) -> str:
    """Write x (2 places) as a person in that locale does, optionally with a currency or parentheses."""
    dec, grp = STYLES[style]
    whole, frac = f"{abs(x):.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    body = grp.join(groups) + dec + frac
    if decorate == 1:
        body = "$" + body if dec == "." else body + " €"
    elif decorate == 2:
        body = "USD " + body if dec == "." else "EUR " + body
    if x < 0:
        return f"({body})" if decorate else "-" + body
    return body


def parse_column(values: list[str], opts: ParseOptions = ParseOptions()) -> tuple[str | None, list]:
    _CON.execute("CREATE OR REPLACE TEMP TABLE c AS SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS v)", [values])
    decimal = decide_decimal(_CON, "c", "v", opts)
    return decimal, [r[0] for r in _CON.execute(f"SELECT {number_sql('v', decimal)} FROM c").fetchall()]


amounts = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2,
                      allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=8), st.sampled_from(sorted(STYLES)), st.integers(0, 2))
def test_numbers_round_trip_in_every_style(xs, style, decorate):
    # a column of one style decides its own separator: every value here carries 2 decimals
    values = [fmt_number(x, style, decorate) for x in xs]
    decimal, parsed = parse_column(values)
    assert decimal == STYLES[style][0]
    assert parsed == xs
    # and the same values with the separator forced
    _, forced = parse_column(values, ParseOptions(decimal=STYLES[style][0]))
    assert forced == xs


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 999), st.sampled_from(["1.200", "1,200"]))
def test_lone_grouped_value_is_decided_by_the_column(n, amb):
    # "1.200" next to "n,50" is German: 1200
    _, parsed = parse_column([amb, f"{n},50"])
    assert parsed == [Decimal("1200") if amb == "1.200" else Decimal("1.2"), Decimal(f"{n}.50")]
    _, parsed = parse_column([amb, f"{n}.50"])
    assert parsed == [Decimal("1.2") if amb == "1.200" else Decimal("1200"), Decimal(f"{n}.50")]


def test_issue_20_d2_examples():
    assert parse_column(["1.200,50"])[1] == [Decimal("1200.50")]
    assert parse_column(["1 200,50"])[1] == [Decimal("1200.50")]
    # alone in a ','-delimited file "1.200" stays ambiguous (quarantined by the reader) ...
    assert parse_column(["1.200"]) == (None, [None])
    # ... a ';'-delimited file is European ...
    assert parse_column(["1.200"], ParseOptions(delimiter=";")) == (",", [Decimal("1200")])
    # ... and --decimal decides
    assert parse_column(["1.200"], ParseOptions(decimal=".")) == (".", [Decimal("1.2")])
    # an English-grouped integer in a ','-delimited file is English
    assert parse_column(["1,200", "300"]) == (".", [Decimal("1200"), Decimal("300")])


def test_issue_12_formats():
    values = ["$1,054.00", "USD 1,054.00", "(1,054)", "1'054.00", "25%", "-3.5"]
    assert parse_column(values)[1] == [Decimal("1054"), Decimal("1054"), Decimal("-1054"), Decimal("1054"),
                                       Decimal("25"), Decimal("-3.5")]
    assert parse_column(["1.054,00 €", "25,5 %", "1 054,00"])[1] == [Decimal("1054"), Decimal("25.5"), Decimal("1054")]
    # not numbers, or a minority style in a decided column
    assert parse_column(["12a", "1.2.3", "abc", "$1,054.00"])[1] == [None, None, None, Decimal("1054")]
    assert parse_column(["1.054,00", "2.000,00", "1,054.00"])[1] == [Decimal("1054"), Decimal("2000"), None]


def fmt_date(dt: datetime, order: str, with_time: int, sep: str) -> str:
    y = dt.strftime("%Y")
    d = {"mdy": f"{dt.month}{sep}{dt.day}{sep}{y}", "dmy": f"{dt.day:02d}{sep}{dt.month:02d}{sep}{y}",
         "ymd": f"{y}{sep}{dt.month:02d}{sep}{dt.day:02d}"}[order]
    if with_time == 1:
        return d + dt.strftime(" %H:%M:%S")
    if with_time == 2:
        return d + " " + str(int(dt.strftime("%I"))) + dt.strftime(":%M %p")
    return d


def parse_dates(values: list[str], opts: ParseOptions = ParseOptions()) -> tuple[str | None, list]:
    _CON.execute("CREATE OR REPLACE TEMP TABLE c AS SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS v)", [values])
    order = decide_date_order(_CON, "c", "v", opts, source="f.csv", header="Close Date")
    return order, [r[0] for r in _CON.execute(f"SELECT {timestamp_sql('v', order)} FROM c").fetchall()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2068, 12, 31)), min_size=1, max_size=6),
       st.sampled_from(["mdy", "dmy", "ymd"]), st.integers(0, 2), st.sampled_from(["/", "-"]))
def test_dates_round_trip_in_every_order(dts, order, with_time, sep):
    dts = [d.replace(second=d.second if with_time == 1 else 0, microsecond=0) for d in dts]
    if not with_time:
        dts = [d.replace(hour=0, minute=0) for d in dts]
    if order == "ymd" and sep == "-" and with_time == 2:
        sep = "/"  # ISO text with an AM/PM time is no ISO
    # a deciding date (day 25) makes the column's order visible from its values
    decider = datetime(2020, 1, 25)
    values = [fmt_date(d, order, with_time, sep) for d in [*dts, decider]]
    got_order, parsed = parse_dates(values)
    assert parsed == [*dts, decider]
    if order != "ymd":
        assert got_order == order
    _, forced = parse_dates(values[:-1], ParseOptions(date_order=order))
    assert forced == dts


def test_dotted_dates_are_day_first_and_ambiguous_columns_are_refused():
    assert parse_dates(["01.03.2017", "2.4.2017 14:05"])[1] == [datetime(2017, 3, 1), datetime(2017, 4, 2, 14, 5)]
    with pytest.raises(AmbiguousDates, match=r"f.csv: column 'Close Date'.*--date-order"):
        parse_dates(["3/1/2017", "4/2/2017"])
    with pytest.raises(AmbiguousDates, match="mixes"):
        parse_dates(["13/1/2017", "1/13/2017"])
    # a value impossible either way does not decide; it fails to parse alone
    assert parse_dates(["31/02/2025", "13/13/2025", "2025-01-02"])[1] == [None, None, datetime(2025, 1, 2)]
    assert parse_dates(["3/1/17 10:00 PM"], ParseOptions(date_order="mdy"))[1] == [datetime(2017, 3, 1, 22)]


def _spend(con, path):
    from revline.ingest import load_files

    return load_files(con, [path], fmt="spend")


def test_european_spend_file_loads_exact_amounts(tmp_path):
    from revline.store import connect

    con = connect(tmp_path / "s.duckdb")
    p = tmp_path / "kosten.csv"
    p.write_text("date;channel;campaign;spend\n2025-01-01;paid_search;a;1.200,50\n2025-01-02;paid_search;a;1 200,50\n"
                 "2025-01-03;paid_search;a;1.200\n")
    r = _spend(con, p)
    assert r.by_table()["spend"]["quarantined"] == 0
    assert con.execute("SELECT list(spend ORDER BY date) FROM spend").fetchone()[0] == [
        Decimal("1200.50"), Decimal("1200.50"), Decimal("1200.00")]


def test_ambiguous_amount_is_quarantined_with_its_reason_or_decided_by_flag(tmp_path):
    from revline.ingest import load_files
    from revline.store import connect

    con = connect(tmp_path / "s.duckdb")
    p = tmp_path / "spend.csv"
    p.write_text("date,channel,spend\n2025-01-01,paid_search,1.200\n2025-01-02,paid_search,300\n")
    r = _spend(con, p)
    assert r.by_table()["spend"] == {"read": 2, "loaded": 1, "merged": 0, "updated": 0, "quarantined": 1}
    reason = con.execute("SELECT reason FROM quarantine").fetchone()[0]
    assert reason == "ambiguous number 1.200: the decimal separator is unknown (pass --decimal , or --decimal .)"
    con.close()
    con = connect(tmp_path / "t.duckdb")
    load_files(con, [p], fmt="spend", decimal=",")
    assert con.execute("SELECT sum(spend) FROM spend").fetchone()[0] == Decimal("1500")


def test_cli_refuses_an_ambiguous_date_column_with_the_flag_to_use(tmp_path):
    import os
    import subprocess
    import sys

    p = tmp_path / "spend.csv"
    p.write_text("date,channel,spend\n3/1/2025,paid_search,10\n4/2/2025,paid_search,20\n")
    cmd = [sys.executable, "-m", "revline", "ingest", str(p), "--format", "spend", "--db", str(tmp_path / "s.duckdb")]
    env = {**os.environ, "COLUMNS": "500"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    said = out.stdout + out.stderr
    assert "column 'date'" in said and "--date-order" in said
    out = subprocess.run([*cmd, "--date-order", "dmy"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_excel_number_cells_read_back_in_any_column(x):
    """A numeric Excel cell as text parses to the same number whatever the column decides."""
    from revline.ingest.xlsx import cell_text

    text = cell_text(x)
    got = _CON.execute(f"SELECT {number_sql('$1::VARCHAR', None, 'double')}", [text]).fetchone()[0]
    assert got == pytest.approx(x, rel=1e-9, abs=1e-9), text
