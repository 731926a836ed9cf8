"""`revline mmm fit` and the library share one set of defaults: ModelSpec() and SamplerConfig()."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from revline.models.mmm import ModelSpec, SamplerConfig


def _fit_defaults() -> dict[str, object]:
    from revline.cli import app

    command = typer.main.get_command(app).commands["mmm"].commands["fit"]  # type: ignore[attr-defined]
    return {p.name: p.default for p in command.params}


def test_cli_defaults_are_the_library_defaults():
    cli = _fit_defaults()
    spec, sampler = ModelSpec(), SamplerConfig()
    for name in ("adstock", "l_max", "lag_weeks", "saturation", "yearly_seasonality", "trend"):
        assert cli[name] == getattr(spec, name), name
    for name in ("chains", "draws", "tune", "seed", "svi_steps"):
        assert cli[name] == getattr(sampler, name), name
    assert cli["fast"] is False and sampler.method == "nuts"


def test_sampler_fields_are_checked():
    from revline.models.mmm.fit import fit

    with pytest.raises(TypeError):
        fit(None, chainz=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        SamplerConfig(method="hmc")  # type: ignore[arg-type]
    assert dataclasses.replace(SamplerConfig(), chains=4).chains == 4


def test_reading_the_defaults_imports_no_jax():
    import subprocess
    import sys

    code = "import sys, revline.cli; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
