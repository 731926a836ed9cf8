"""The mix model against the simulator's counterfactual truth (issue #19, item 5).

The demo simulator knows what each channel really caused: it re-runs the company with the channel
switched off (ground_truth.json, `channels.<ch>.incremental_pipeline_by_type.new_business`). Here
the mix model is fitted exactly as `revline mmm fit` fits it by default (new-business pipeline by
week from the ingested store, yearly seasonality 2, trend) on two companies: the default demo and
`strong_tv`, where the TV flight's lift is ~4.4x larger (params.CONFIGS). The targets are the
same on both:

* the channels' shares add up to at most 100 % and the baseline is never negative;
* TV's 94 % interval covers the truth;
* where the model reports TV as identified, its mean is within a factor of 1.5 of the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # each company: generate + ingest ~10 s, a NUTS fit ~15-40 s

FIT = dict(chains=2, tune=500, draws=500, seed=0)


def demo_frame(out: Path, config: str, seed: int = 42) -> tuple[pd.DataFrame, dict]:
    """Generate the small demo company of one configuration, ingest it into a store and read the
    weekly new-business pipeline frame the CLI fits; return it with the ground truth."""
    from revline.demo.simulate import generate
    from revline.ingest import load_files
    from revline.models.mmm import weekly_from_store
    from revline.store import connect

    generate(out, size="small", seed=seed, config=config)
    con = connect(out / "store.duckdb")
    try:
        load_files(con, [out])
        frame = weekly_from_store(con, "pipeline", "new_business")
    finally:
        con.close()
    return frame, json.loads((out / "ground_truth.json").read_text())


def truth_comparison(fit, truth: dict) -> pd.DataFrame:
    """Per channel: the model's contribution (mean, 94 % HDI, share, identified) beside the
    simulator's counterfactual new-business pipeline."""
    from revline.models.mmm.diagnostics import identification
    from revline.models.mmm.report import contributions

    c = contributions(fit).merge(identification(fit)[["channel", "identified"]], on="channel")
    c["truth"] = [truth["channels"][ch]["incremental_pipeline_by_type"]["new_business"] for ch in c["channel"]]
    c["ratio"] = c["contribution"] / c["truth"]
    c["covered"] = (c["contribution_low"] <= c["truth"]) & (c["truth"] <= c["contribution_high"])
    return c[["channel", "spend", "truth", "contribution", "contribution_low", "contribution_high", "share", "ratio",
              "covered", "identified"]]


@pytest.mark.parametrize("config", ["default", "strong_tv"])
def test_mix_model_against_the_counterfactual_truth(config, tmp_path):
    from revline.models.mmm.fit import fit
    from revline.models.mmm.model import ModelSpec
    from revline.models.mmm.report import decomposition

    frame, truth = demo_frame(tmp_path, config)
    assert truth["config"] == config
    f = fit(frame, spec=ModelSpec(yearly_seasonality=2, trend=True), **FIT)
    table = truth_comparison(f, truth).set_index("channel")
    print(f"\n{config}:\n{table.round(3).to_string()}")

    assert set(table.index) >= {"tv", "paid_search", "events"}
    assert table["share"].sum() <= 1.0
    dec = decomposition(f)
    assert (dec["baseline"] >= 0).all()
    np.testing.assert_allclose(dec[["baseline", *f.channels]].sum(axis=1), dec["fitted"], rtol=1e-4)

    tv = table.loc["tv"]
    assert tv["contribution_low"] <= tv["truth"] <= tv["contribution_high"], tv
    if tv["identified"]:
        assert 1 / 1.5 <= tv["ratio"] <= 1.5, tv
