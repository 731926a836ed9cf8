"""Helpers the mix-model benchmarks share (bench_mmm.py, mmm_recovery.py).

Why one module: both run each contender (revline, PyMC-Marketing) in its own subprocess, so its
peak RSS, CPU time and imports are its own, and both measure sampling efficiency the same way
(bulk ESS of the parameters the two models share, over wall and CPU seconds). Imported by the
scripts as a sibling module (they put their own directory first on sys.path when run).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

RESULT_PREFIX = "RESULT "


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s() -> float:
    """User + system CPU of this process and its finished children (PyMC's chain workers)."""
    import resource

    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def ess(samples: dict, names) -> list[float]:
    """Bulk ESS of every scalar of the named sites present in `samples` (arrays shaped chain, draw, ...)."""
    import arviz as az
    import numpy as np

    out = []
    for name in names:
        if name not in samples:
            continue
        arr = np.asarray(samples[name], dtype=float)
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        out += [float(az.ess(flat[:, :, j], method="bulk")) for j in range(flat.shape[2])]
    return out


def cold_revline_cache() -> None:
    """A fresh XLA cache for this process unless the caller chose one: compilation is counted, as
    PyMC's first compile would be."""
    if "REVLINE_JAX_CACHE" in os.environ:
        return
    import atexit
    import shutil
    import tempfile

    os.environ["REVLINE_JAX_CACHE"] = tempfile.mkdtemp(prefix="bench_mmm_jax_")
    atexit.register(shutil.rmtree, os.environ["REVLINE_JAX_CACHE"], True)


def emit(result: dict) -> None:
    """The child's one line of output the parent reads (peak RSS added)."""
    result["peak_rss_mb"] = peak_rss_mb()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> tuple[dict | None, str]:
    """Run one contender's child process; (its RESULT dict with `process_wall` and the 1-min load
    averages before and after, or None) and the tail of its stderr for a failure message."""
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode or not line:
        return None, proc.stderr[-2000:]
    r = json.loads(line[-1][len(RESULT_PREFIX):])
    r["process_wall"] = time.perf_counter() - t0
    r["load"] = (load0, os.getloadavg()[0])
    return r, ""
