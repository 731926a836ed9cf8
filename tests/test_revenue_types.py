"""HubSpot's ambiguous `existingbusiness` deal type: the pipeline or deal name decides when it
tells, otherwise the map's assumption (renewal by default) is counted in the ingest summary, and
`--type-map existingbusiness=expansion` changes it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from revline.ingest import load_files
from revline.ingest.revenue_types import load_type_map, parse_type_map
from revline.store import connect

# (id, name, pipeline, type): what the pipeline and name say, and what they do not
DEALS = [
    ("1", "Acme - New Deal", "Sales Pipeline", "newbusiness"),
    ("2", "Acme - Renewal 2025", "Sales Pipeline", "existingbusiness"),
    ("3", "Beta - more seats", "Renewals", "existingbusiness"),
    ("4", "Beta - Upsell 50 seats", "Sales Pipeline", "existingbusiness"),
    ("5", "Gamma - Add-on analytics", "Sales Pipeline", "existingbusiness"),
    ("6", "Gamma - downgrade to Starter", "Sales Pipeline", "existingbusiness"),
    ("7", "Delta", "Sales Pipeline", "existingbusiness"),
    ("8", "Epsilon", "default", "existingbusiness"),
    ("9", "Zeta Q3", "Sales Pipeline", "Existing Business"),
]
TOLD = {"2": "renewal", "3": "renewal", "4": "expansion", "5": "expansion", "6": "contraction"}
UNTOLD = ["7", "8", "9"]


def _deals_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hubspot-deals.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Record ID", "Deal Name", "Pipeline", "Deal Type", "Deal Stage", "Amount", "Create Date", "Close Date"])
        for i, name, pipeline, dtype in DEALS:
            w.writerow([i, name, pipeline, dtype, "closedwon", "1000", "2025-01-02", "2025-03-01"])
    return path


def _types(con) -> dict[str, str]:
    return dict(con.execute("SELECT opportunity_id, revenue_type FROM opportunities").fetchall())


def _summary(report) -> str:
    c = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    c.print(report)
    return c.export_text()


def test_pipeline_or_name_decides_and_the_rest_is_an_assumption_counted_in_the_summary(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    report = load_files(con, [_deals_csv(tmp_path / "in")])
    got = _types(con)
    assert got["1"] == "new_business"
    assert {k: got[k] for k in TOLD} == TOLD
    assert {got[k] for k in UNTOLD} == {"renewal"}
    assumed = Counter({(r, t): n for (r, t), n in report.assumed_types.items()})
    assert sum(assumed.values()) == len(UNTOLD)
    assert sum(report.hinted_types.values()) == len(TOLD)
    text = _summary(report)
    assert "2 existingbusiness deals mapped to renewal" in text
    assert "set --type-map existingbusiness=expansion" in text
    assert f"{len(TOLD)} more decided by their pipeline or name" in text
    con.close()


def test_type_map_pair_changes_the_assumption_but_not_what_the_deal_says(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    report = load_files(con, [_deals_csv(tmp_path / "in")], type_map=parse_type_map(["existingbusiness=expansion"]))
    got = _types(con)
    assert {k: got[k] for k in TOLD} == TOLD
    assert got["7"] == got["8"] == "expansion"
    assert got["9"] == "renewal"  # "Existing Business" (the UI label) is its own key, still the default
    assert report.assumed_types[("existingbusiness", "expansion")] == 2
    con.close()


def test_parse_type_map_reads_pairs_and_files(tmp_path):
    f = tmp_path / "map.toml"
    f.write_text('"Renewal Upsell" = "expansion"\n')
    assert parse_type_map(["existingbusiness=expansion,Partner deal=new_business", str(f), "Junk="]) == {
        "existingbusiness": "expansion", "Partner deal": "new_business", "Renewal Upsell": "expansion", "Junk": None}
    with pytest.raises(ValueError, match="not a file, and not raw=type"):
        parse_type_map(["nothing.toml"])
    with pytest.raises(ValueError, match="revenue_type must be one of"):
        load_type_map(parse_type_map(["existingbusiness=upsell"]))


def test_cli_type_map_pair(tmp_path):
    deals = _deals_csv(tmp_path / "in")
    db = tmp_path / "s.duckdb"
    env = {**os.environ, "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "revline", "ingest", str(deals), "--db", str(db),
                          "--type-map", "existingbusiness=expansion"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "2 existingbusiness deals mapped to expansion" in res.stdout
    con = connect(db, read_only=True)
    assert _types(con)["7"] == "expansion"
    con.close()
    bad = subprocess.run([sys.executable, "-m", "revline", "ingest", str(deals), "--db", str(tmp_path / "t.duckdb"),
                          "--type-map", "existingbusiness=upsell"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "revenue_type must be one of" in bad.stderr and "Traceback" not in bad.stderr
