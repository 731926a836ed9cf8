"""Bayesian marketing-mix model: adstock + saturation per channel, seasonality, trend and
controls, fitted with NumPyro; contributions, ROI, response curves, calibration by lift tests
or attribution ROI, budget optimiser and scenarios.

Heavy modules (jax, numpyro) load on first use of a function, not on `import revline`.
"""

from __future__ import annotations

import os as _os
import sys as _sys

# NUTS chains run one per core (chain_method="parallel"), which needs JAX to expose one host
# device per core; that is only possible before JAX is first imported, as PyMC does for its
# numpyro sampler. A flag the user set wins; if JAX came first, fit() falls back to sequential.
if "jax" not in _sys.modules and "xla_force_host_platform_device_count" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "")
                                + f" --xla_force_host_platform_device_count={_os.cpu_count() or 1}").strip()

from revline.models.mmm.data import MMMDataError, from_csv, weekly_from_store
from revline.models.mmm.model import ModelSpec

__all__ = ["MMMDataError", "ModelSpec", "from_csv", "weekly_from_store", "fit_mmm", "MMMFit", "contributions", "roi",
           "response_curves", "adstock_curves", "optimize_budget", "scenario", "mmm_vs_mta"]


def __getattr__(name: str):
    if name in ("fit_mmm", "MMMFit"):
        # the function lives in the submodule `fit`; exported under another name so the
        # package attribute `fit` can stay the submodule
        from revline.models.mmm.fit import MMMFit, fit
        return fit if name == "fit_mmm" else MMMFit
    if name in ("contributions", "roi", "response_curves", "adstock_curves"):
        from revline.models.mmm import report
        return getattr(report, name)
    if name == "optimize_budget":
        from revline.models.mmm.optimizer import optimize_budget
        return optimize_budget
    if name == "scenario":
        from revline.models.mmm.scenario import scenario
        return scenario
    if name == "mmm_vs_mta":
        from revline.models.mmm.calibration import mmm_vs_mta
        return mmm_vs_mta
    raise AttributeError(name)
