"""Issue #20: CSVs in Windows-1252 / Latin-1 were quarantined as "invalid encoding" with no way to
read them. They are now detected (or named with --encoding) and their values round-trip."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from revline.cli import app
from revline.ingest import load_files
from revline.ingest.encoding import EncodingError, guess
from revline.store import connect

NAMES = ["Café Müller €", "Straße & Söhne", "Crème brûlée", "Señor Núñez", "Zoë “quoted”"]


def _accounts(names: list[str]) -> str:
    return "Id,Name,BillingCountry\r\n" + "".join(f"001{i:03d},{n},DE\r\n" for i, n in enumerate(names))


def _load(tmp_path, path, **kw):
    con = connect(tmp_path / "s.duckdb")
    try:
        report = load_files(con, [path], **kw)
        names = [r[0] for r in con.execute("SELECT name FROM accounts ORDER BY account_id").fetchall()]
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    finally:
        con.close()
    return report, names, quarantined


@pytest.mark.parametrize("gz", [False, True])
def test_cp1252_detected_and_round_trips(tmp_path, gz):
    data = _accounts(NAMES).encode("cp1252")
    path = tmp_path / ("Account.csv.gz" if gz else "Account.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    report, names, quarantined = _load(tmp_path, path)
    assert names == NAMES and quarantined == 0
    assert report.by_table()["accounts"] == {"read": 5, "loaded": 5, "merged": 0, "updated": 0, "quarantined": 0}
    assert any("read as cp1252" in n and str(path) in n for n in report.notes)


def test_header_line_not_utf8(tmp_path):
    path = tmp_path / "Account.csv"
    path.write_bytes(("Id,Name,BillingCountry,Straße\n001A,Café,DE,x\n").encode("cp1252"))
    _, names, quarantined = _load(tmp_path, path)
    assert names == ["Café"] and quarantined == 0


def test_named_encoding_is_used_and_not_reported_as_detected(tmp_path):
    path = tmp_path / "Account.csv"
    path.write_bytes(_accounts(["Ørsted", "Åland"]).encode("latin-1"))
    report, names, _ = _load(tmp_path, path, encoding="latin-1")
    assert names == ["Ørsted", "Åland"]
    assert not any("read as" in n for n in report.notes)


def test_utf16_export(tmp_path):
    path = tmp_path / "Account.csv"
    path.write_bytes(_accounts(NAMES).encode("utf-16"))
    _, names, _ = _load(tmp_path, path)
    assert names == NAMES


def test_utf8_file_is_untouched(tmp_path):
    path = tmp_path / "Account.csv"
    path.write_text(_accounts(NAMES), encoding="utf-8")
    report, names, _ = _load(tmp_path, path)
    assert names == NAMES and not any("read as" in n for n in report.notes)


def test_cli_encoding_flag_and_bad_names(tmp_path):
    path = tmp_path / "Account.csv"
    path.write_bytes(_accounts(["€ 100 Café"]).encode("cp1252"))
    db = tmp_path / "s.duckdb"
    res = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db), "--encoding", "cp1252"])
    assert res.exit_code == 0, res.output
    con = connect(db, read_only=True)
    assert con.execute("SELECT name FROM accounts").fetchall() == [("€ 100 Café",)]
    con.close()
    res = CliRunner().invoke(app, ["ingest", str(path), "--db", str(db), "--encoding", "klingon", "--force"])
    assert res.exit_code == 1 and "unknown encoding 'klingon'" in res.stderr
    # bytes that are not valid in the named encoding: one line naming the file and the flag
    bad = tmp_path / "Account_bad.csv"
    bad.write_bytes(b"Id,Name,BillingCountry\n001B,caf\xe9,DE\n")
    res = CliRunner().invoke(app, ["ingest", str(bad), "--db", str(db), "--encoding", "utf-8-sig"])
    assert res.exit_code == 1
    [line] = [x for x in res.stderr.splitlines() if x.strip()]
    assert f"{bad}: not valid utf-8-sig" in line and "--encoding" in line


WORDS = ["Café", "Müller", "Straße", "Crème", "brûlée", "Señor", "Núñez", "Zoë", "Ærø", "Øresund", "Åland",
         "garçon", "€", "“quoted”", "naïve", "déjà-vu", "Ångström", "€ 1.200", "Kœnig", "…"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(WORDS + ["plain", "ACME", "Inc."]), min_size=1, max_size=4).map(" ".join),
                min_size=1, max_size=6),
       st.booleans())
def test_cp1252_values_round_trip(tmp_path_factory, names, named):
    """Named, any cp1252 text round-trips exactly; detected, text made of real words does
    (detection cannot be exact for every byte string: 'Æ€' in cp1252 is valid UTF-8)."""
    tmp_path = tmp_path_factory.mktemp("enc")
    path = tmp_path / "Account.csv"
    path.write_bytes(_accounts(names).encode("cp1252"))
    _, got, quarantined = _load(tmp_path, path, **({"encoding": "cp1252"} if named else {}))
    assert got == names and quarantined == 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.sampled_from("abcXYZ éèàüöäßñç€ÆØÅ“”‘’–—…"), min_size=1, max_size=12)
                .map(str.strip).filter(bool), min_size=1, max_size=6))
def test_any_cp1252_text_round_trips_with_encoding_named(tmp_path_factory, names):
    tmp_path = tmp_path_factory.mktemp("enc")
    path = tmp_path / "Account.csv"
    path.write_bytes(_accounts(names).encode("cp1252"))
    _, got, quarantined = _load(tmp_path, path, encoding="cp1252")
    assert got == names and quarantined == 0


def test_guess_prefers_cp1252_for_latin_text(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("Id,Name\n1,Señor Zoë\n".encode("cp1252"))
    assert guess(path) == "cp1252"
    path.write_bytes("Id,Name\n1,Алексей Иванов\n2,Москва\n".encode("cp1251"))
    assert guess(path) == "cp1251"


def test_encoding_error_is_a_value_error():
    assert issubclass(EncodingError, ValueError)
