"""`revline --engine spark`: the batch flow on Spark over an export folder gives DuckDB's results.

On the demo's tiny company: the store is exported (`revline export`), the README's batch commands
run on the folder with `--engine spark` and on the store with DuckDB, and the milestones and every
model's ledger (rule models: model x milestone x revenue type; Markov and Shapley: x milestone) must
hold the same rows, the folder Spark wrote must import back (`revline import`, every table's row
count and checksum verified), and the ROI table Spark computes must equal DuckDB's. The engine's own plumbing (which engine a run
picks, the one-line refusals) and the same transforms through the DuckDB engine are checked
without a JVM.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from revline import __version__
from revline.store import connect
from revline.store.engine import DuckDBEngine, EngineError, resolve_engine
from revline.store.exchange import export_store, import_store
from revline.store.state import staleness

LEDGER = (
    "SELECT l.model, l.milestone, coalesce(r.revenue_type, '-') AS rt, l.conversion_id, l.conversion_type, "
    "coalesce(l.touchpoint_id, '-') AS touchpoint_id, round(l.credit, 9) AS credit, "
    "round(l.revenue_credit, 5) AS revenue_credit, coalesce(l.revenue_type, '-') AS revenue_type, l.channel, "
    "coalesce(l.campaign_id, '-') AS campaign_id, coalesce(l.touch_position, '-') AS touch_position, l.occurred_at "
    "FROM credit_ledger l JOIN attribution_runs r USING (run_id) WHERE l.model IN ({models}) ORDER BY ALL"
)
RUNS = ("SELECT model, milestone, coalesce(revenue_type, '-') AS rt, opportunities, unattributed "
        "FROM attribution_runs WHERE model IN ({models}) ORDER BY ALL")
MILESTONES = "SELECT * FROM milestones ORDER BY ALL"
STITCHED = (  # what identity stitching writes
    "SELECT * FROM identities ORDER BY ALL",
    "SELECT * FROM people ORDER BY ALL",
    "SELECT touchpoint_id, person_id, account_id FROM touchpoints ORDER BY ALL",
    "SELECT * FROM opportunity_contacts ORDER BY ALL",
    "SELECT * FROM stage_events ORDER BY ALL",
    "SELECT * FROM identity_links ORDER BY ALL",
)


def _never_stitched(files: Path, db: Path) -> None:
    """A store of the company's source files as ingest leaves them, never stitched: CRM records not
    yet merged (a lead and the contact it became are two rows), no identity map, touches without
    persons. Both engines must then stitch it, from the same inputs."""
    from revline.ingest import load_files

    con = connect(db)
    try:
        load_files(con, [files])
    finally:
        con.close()


def _rule_models() -> str:
    """Every model `revline attribute` runs: the rule models and the data-driven ones."""
    from revline.attribution.config import BUILTIN_MODELS

    return ", ".join(f"'{m}'" for m in [*BUILTIN_MODELS, "markov", "shapley"])


def _frame(db: Path, sql: str) -> pd.DataFrame:
    con = connect(db, read_only=True)
    try:
        return con.execute(sql.format(models=_rule_models())).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def tiny(simulated_company) -> Path:
    return simulated_company(config="default", size="tiny", seed=11)[0]


@pytest.fixture(scope="module")
def tiny_files(simulated_company) -> Path:
    return simulated_company(config="default", size="tiny", seed=11)[1]


def _app():
    from revline.cli import app

    return app


# ------------------------------------------------------------------ choosing the engine (no JVM)
def test_engine_choice_option_then_environment_then_revline_toml(tmp_path, monkeypatch):
    monkeypatch.delenv("REVLINE_ENGINE", raising=False)
    assert resolve_engine(None, cwd=tmp_path).name == "duckdb"
    (tmp_path / "revline.toml").write_text('engine = "spark"\n[spark]\nmaster = "local[1]"\nshuffle_partitions = 3\n')
    config = resolve_engine(None, cwd=tmp_path)
    assert (config.name, config.master, config.shuffle_partitions) == ("spark", "local[1]", 3)
    monkeypatch.setenv("REVLINE_ENGINE", "duckdb")
    assert resolve_engine(None, cwd=tmp_path).name == "duckdb"
    assert resolve_engine("Spark", cwd=tmp_path).name == "spark"
    with pytest.raises(EngineError, match="'bogus' .*not one of duckdb, spark"):
        resolve_engine("bogus", cwd=tmp_path)
    (tmp_path / "revline.toml").write_text("engine = [")
    monkeypatch.delenv("REVLINE_ENGINE")
    with pytest.raises(EngineError, match="revline.toml: not a readable TOML file"):
        resolve_engine(None, cwd=tmp_path)


def test_what_cannot_run_on_spark_says_so_in_one_line(tiny, tmp_path):
    folder = tmp_path / "lake"
    con = connect(tiny, read_only=True)
    export_store(con, folder, revline_version=__version__)
    con.close()
    runner = CliRunner()
    for args, words in [
        (["journey", "x", "--db", str(folder)], "`revline journey` runs on DuckDB only"),
        (["report", "--by", "channel", "--db", str(folder)], "`revline report` without --roi runs on DuckDB only"),
        (["report", "--roi", "--by", "campaign", "--db", str(folder)], "--by campaign runs on DuckDB only so far"),
        (["funnel", "--db", str(folder)], "`revline funnel --level lead` runs on DuckDB only so far; on Spark runs "
                                          "`funnel --level account --section stages`"),
        (["funnel", "--level", "account", "--section", "stages", "--section", "leakage", "--db", str(folder)],
         "`revline funnel --section leakage` runs on DuckDB only"),
        (["funnel", "--level", "account", "--revenue-type", "all", "--db", str(folder)], "`revline funnel --revenue-type all`"),
        (["stitch", "--db", str(tiny)], "not a folder `revline export --to` wrote"),
    ]:
        result = runner.invoke(_app(), ["--engine", "spark", *args])
        assert result.exit_code == 1, (args, result.output)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and words in lines[0], (args, result.output)
    result = runner.invoke(_app(), ["--engine", "bogus", "stitch", "--db", str(folder)])
    assert result.exit_code == 1 and "not one of duckdb, spark" in result.output


def test_the_duckdb_engine_runs_the_same_transforms_into_the_same_ledger(tiny, tmp_path):
    """The engine path (attribution.on_engine, journeys.build_on) on DuckDB equals the store's own
    (runner.run_models, journeys.build): the code Spark runs, checked without a JVM."""
    from revline.attribution import run_models
    from revline.attribution.on_engine import run_models_on
    from revline.journeys.build import build, build_on

    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    shutil.copy(tiny, a)
    shutil.copy(tiny, b)
    con = connect(a)
    build(con)
    run_models(con, milestones=["won", "mql"])
    run_models(con, models=["markov", "shapley"], milestones=["won", "mql"], revenue_types=["all", "renewal"])
    con.close()
    con = connect(b)
    engine = DuckDBEngine(con)
    build_on(engine)
    runs = run_models_on(engine, milestones=["won", "mql"], rules_only=True)
    runs += run_models_on(engine, models=["markov", "shapley"], milestones=["won", "mql"], revenue_types=["all", "renewal"])
    engine.close()
    con.close()
    assert {r.milestone for r in runs} == {"won", "mql"} and {"markov", "shapley", "linear"} <= {r.model for r in runs}
    for sql in (MILESTONES, LEDGER, RUNS):
        pd.testing.assert_frame_equal(_frame(a, sql), _frame(b, sql))


# ------------------------------------------------------------------ the batch flow on Spark
@pytest.mark.spark
@pytest.mark.slow  # 10 min at load 15 on 2 cores (every model x milestone on Spark)
def test_batch_flow_on_spark_equals_duckdb(tiny_files, tmp_path, spark_session, monkeypatch):
    from revline.store import engine as engine_module

    # the suite's one Spark session (xdist may share a worker's JVM), never the CLI's own getOrCreate
    monkeypatch.setattr(engine_module, "spark_session", lambda config: spark_session)
    store, folder = tmp_path / "store.duckdb", tmp_path / "lake"
    _never_stitched(tiny_files, store)  # so Spark stitches identities itself, from the inputs DuckDB stitches
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(_app(), list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    run("export", "--to", str(folder), "--db", str(store))
    # every rule model at every milestone and revenue type; Markov and Shapley at every milestone
    # over all revenue types (their fit runs on the driver, per run: the CI time goes there)
    batch = (["stitch"], ["attribute", "--rules-only"], ["attribute", "-m", "markov", "-m", "shapley", "--revenue-type", "all"])
    for command in batch:
        run(*command, "--db", str(store))
    for command in batch:
        out = run("--engine", "spark", *command, "--db", str(folder))
        assert ("rebuilt on Spark" if command == ["stitch"] else "runs written on Spark") in out
        if command == ["stitch"]:  # the stale folder was stitched there, with DuckDB's report
            assert "identities stitched (the store was never stitched)" in out and "identity edges" in out
            merged = re.search(r"CRM records merged\D+([\d,]+)", out)
            assert merged and int(merged.group(1).replace(",", "")) > 50, out  # leads merged into their contacts
    spark_roi = run("--engine", "spark", "report", "--by", "channel", "--roi", "--db", str(folder))
    assert "roas" in spark_roi and "showing attribution alone" in spark_roi
    # the same command prints the same account funnel on both engines (the CLI's table)
    on_spark = run("--engine", "spark", "funnel", "--level", "account", "--section", "stages", "--db", str(folder))
    on_duck = run("funnel", "--level", "account", "--section", "stages", "--no-stitch", "--db", str(store))
    assert "days in stage (p25-p75)" in on_duck and on_duck.strip() in on_spark, (on_spark, on_duck)

    # the folder Spark wrote loads back, each table's rows and checksum verified against the manifest
    back = tmp_path / "back.duckdb"
    con = connect(back)
    import_store(con, folder)
    con.close()
    for sql in (*STITCHED, MILESTONES, LEDGER, RUNS):
        duck, spark = _frame(store, sql), _frame(back, sql)
        assert len(duck) > 0, sql
        pd.testing.assert_frame_equal(spark, duck, obj=sql)
    # the stitch was recorded: the folder (and a store made from it) is current
    con = connect(back, read_only=True)
    try:
        assert not staleness(con).stale, staleness(con)
        assert con.execute("SELECT count(*) FROM identities").fetchone()[0] > 1000
    finally:
        con.close()
    plan = _frame(store, "SELECT DISTINCT model, milestone FROM attribution_runs WHERE model IN ({models})")
    assert len(plan) == (len(_rule_models().split(","))) * 5  # every model x milestone

    # the ROI table computed on Spark (sums there, ratios on the driver) equals DuckDB's
    from revline.ops import engine_flow
    from revline.reports.roi import roi_table
    from revline.store.engine import SparkEngine

    from revline.models.funnel import funnel_report
    from revline.reports.errors import NotFound

    con = connect(store, read_only=True)
    try:
        engine = SparkEngine(folder, spark_session)
        try:  # the account funnel: counts and days in stage on Spark, rates on the driver; the CLI's table
            for rt, start, end in (("new_business", None, None), ("renewal", None, None),
                                   ("new_business", "2024-03-01", "2024-09-30")):
                duck = funnel_report(con, "account", revenue_type=rt, start=start, end=end).stages
                assert start is not None or (duck["count"].iloc[0] > 0 and duck["days_n"].iloc[0] > 0)
                spark = engine_flow.account_funnel(engine, revenue_type=rt, start=start, end=end).stages
                pd.testing.assert_frame_equal(spark, duck, check_dtype=False, rtol=1e-12)
            # a model without a run: the rule `select_runs` applies (reports.tables.missing_run's line)
            with pytest.raises(NotFound, match=r"no nope run at milestone won / renewal in .*"
                                               r"run `revline --engine spark attribute --model nope --milestone won "
                                               r"--revenue-type renewal` first"):
                engine_flow.roi(engine, models=["nope"], revenue_type="renewal")
        finally:
            engine.close()
        for by in ("channel", "month"):
            duck = roi_table(con, "linear", by=by)
            engine = SparkEngine(folder, spark_session)
            try:
                spark = engine_flow.roi(engine, by=by, raw=True).frame
            finally:
                engine.close()
            assert len(duck) > 0 and duck["spend"].sum() > 0
            pd.testing.assert_frame_equal(spark.reset_index(drop=True), duck.reset_index(drop=True), check_dtype=False,
                                          rtol=1e-9)
    finally:
        con.close()
