"""Slow validations of the mix model against known truths (NUTS, real chains).

1. PyMC-Marketing's quick-start data and specification: its documented generating process has
   adstock alphas (0.4, 0.2), logistic lambdas (4, 3) and total contributions x1 274,848 and
   x2 65,906; PyMC-Marketing itself lands near 278,500 and 68,300.
2. The demo company: the 94% intervals of channel contributions to pipeline should cover the
   simulator's counterfactual truth (TV included).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

PYMC_CSV = "/work/shared/data/pymc_marketing/mmm_example.csv"


@pytest.mark.slow
def test_pymc_marketing_quickstart_is_reproduced():
    from revline.models.mmm import from_csv
    from revline.models.mmm.fit import fit
    from revline.models.mmm.model import ModelSpec
    from revline.models.mmm.report import contributions, decomposition, parameter_summary

    df = from_csv(PYMC_CSV, "date_week", "y", ["x1", "x2"], ["event_1", "event_2", "t"])
    # 1000 warm-up and 1000 draws per chain: with 600 the bulk ESS ranged 75-537 over seeds 1-5 (R-hat
    # up to 1.04) and the check passed or failed with the CPU's floating-point order; with 1000 it
    # was 460-803 (R-hat <= 1.011) on every seed
    f = fit(df, spec=ModelSpec(l_max=8, yearly_seasonality=2), chains=2, tune=1000, draws=1000, seed=3)
    assert f.run_info["divergences"] <= 5
    assert f.run_info["max_r_hat"] < 1.02 and f.run_info["min_ess_bulk"] > 200
    p = parameter_summary(f).set_index("parameter")["mean"]
    assert p["adstock_alpha[x1]"] == pytest.approx(0.4, abs=0.06)
    assert p["adstock_alpha[x2]"] == pytest.approx(0.2, abs=0.08)
    assert p["saturation_lam[x1]"] == pytest.approx(4.0, abs=1.0)
    assert p["saturation_lam[x2]"] == pytest.approx(3.0, abs=1.5)
    assert p["gamma_control[event_1]"] > 0 and p["gamma_control[event_2]"] > p["gamma_control[event_1]"]
    table = contributions(f).set_index("channel")
    c = table["contribution"]
    assert c["x1"] == pytest.approx(274_848, rel=0.05)
    assert c["x2"] == pytest.approx(65_906, rel=0.05)
    # the positive baseline changes nothing here (its level sits far from zero): the figures of
    # docs/mmm.md (x1 +1.2 %, x2 +3.4 % on seed 1) hold within Monte-Carlo noise
    assert abs(c["x1"] / 274_848 - 1) < 0.025 and abs(c["x2"] / 65_906 - 1) < 0.05
    assert table["share"].sum() <= 1.0
    dec = decomposition(f)
    assert (dec["baseline"] >= 0).all()
    np.testing.assert_allclose(dec[["baseline", "x1", "x2"]].sum(axis=1), dec["fitted"], rtol=1e-4)


@pytest.mark.slow
def test_demo_company_intervals_cover_ground_truth(tmp_path_factory):
    simulate = pytest.importorskip("revline.demo.simulate")
    ingest = pytest.importorskip("revline.ingest")
    from revline.models.mmm import weekly_from_store
    from revline.models.mmm.fit import fit
    from revline.models.mmm.model import ModelSpec
    from revline.models.mmm.report import contributions
    from revline.store import connect

    out = tmp_path_factory.mktemp("demo")
    simulate.generate(out, size="small", seed=42)
    con = connect(out / "store.duckdb")
    ingest.load_files(con, [out])
    frame = weekly_from_store(con, "pipeline", revenue_type=None)  # truth is over all revenue types
    con.close()
    truth = json.loads((out / "ground_truth.json").read_text())["channels"]
    # 10 weakly identified channels keep NUTS near its maximum tree depth: depth 8 (255 steps) and
    # 250 + 250 draws hold r-hat ~1.02 at about half the cost of depth 10 and 500 + 500
    f = fit(frame, spec=ModelSpec(yearly_seasonality=2, trend=True), chains=2, tune=250, draws=250, seed=0,
            max_tree_depth=8)
    c = contributions(f).set_index("channel")
    assert "tv" in c.index
    missed = {ch: (truth[ch]["incremental_pipeline"], round(r.contribution_low), round(r.contribution_high))
              for ch, r in c.iterrows()
              if not r.contribution_low <= truth[ch]["incremental_pipeline"] <= r.contribution_high}
    assert not missed, f"94% intervals missed the truth for {missed}"
