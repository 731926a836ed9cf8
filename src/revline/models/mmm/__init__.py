"""Bayesian marketing-mix model: adstock + saturation per channel, seasonality, trend and
controls, fitted with NumPyro; contributions, ROI, response curves, calibration by lift tests
or attribution ROI, budget optimiser and scenarios.

Heavy modules (jax, numpyro) load on first use of a function, not on `import revline`.
"""

from __future__ import annotations

import os as _os
import sys as _sys



def _xla_flags() -> None:
    """XLA flags that only work if set before JAX is first imported. A flag the user set wins.

    * One host device per core, so NUTS chains run one per core (chain_method="parallel"), as PyMC
      does for its numpyro sampler; if JAX came first, fit() falls back to sequential chains.
    * `--xla_cpu_use_fusion_emitters=false`: XLA's older CPU emitters compile the NUTS program in
      ~30 % less CPU time and sample no slower (measured, docs/mmm.md). Set only for the jaxlib
      release it was measured on: XLA aborts the process on a flag it does not know.
    """
    if "jax" in _sys.modules:
        return
    flags = _os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        flags += f" --xla_force_host_platform_device_count={_os.cpu_count() or 1}"
    if "xla_cpu_use_fusion_emitters" not in flags:
        from importlib import metadata

        try:
            tested = metadata.version("jaxlib").split(".")[:2] == ["0", "10"]
        except metadata.PackageNotFoundError:
            tested = False
        if tested:
            flags += " --xla_cpu_use_fusion_emitters=false"
    _os.environ["XLA_FLAGS"] = flags.strip()


_xla_flags()

INSTALL_HINT = "pip install 'revline[mmm]'"


class MMMBackendMissing(ImportError):
    """JAX or NumPyro is not installed: the MMM is the optional extra `revline[mmm]`."""


def missing_backend() -> list[str]:
    """The MMM's optional packages (jax, numpyro) that cannot be imported, without importing them
    (importing JAX takes seconds; the CLI asks before every `revline mmm` command)."""
    from importlib.util import find_spec

    missing = []
    for name in ("jax", "numpyro"):
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: blocked in sys.modules (set to None)
            found = False
        if not found:
            missing.append(name)
    return missing


def require_backend() -> None:
    """Raise MMMBackendMissing with the one line that says how to install the extra."""
    missing = missing_backend()
    if missing:
        raise MMMBackendMissing(
            f"the marketing-mix model needs {' and '.join(missing)}, which the core install leaves out: {INSTALL_HINT}"
        )

# The spec classes import nothing heavy: the CLI reads its defaults from them at start-up.
from revline.models.mmm.spec import ModelSpec, SamplerConfig  # noqa: E402

__all__ = ["INSTALL_HINT", "MMMBackendMissing", "missing_backend", "require_backend", "MMMDataError", "ModelSpec", "SamplerConfig", "from_csv", "weekly_from_store", "fit_mmm", "MMMFit",
           "contributions", "roi", "response_curves", "adstock_curves", "optimize_budget", "scenario", "mmm_vs_mta"]


def __getattr__(name: str):
    """The rest loads on first use (after _xla_flags(): model.py imports jax, which reads
    XLA_FLAGS once, at import)."""
    if name in ("MMMDataError", "from_csv", "weekly_from_store"):
        from revline.models.mmm import data
        return getattr(data, name)
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
