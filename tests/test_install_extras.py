"""The core install without the `mmm` extra: nothing outside models/mmm imports JAX or NumPyro at
import time, the demo runs without them, and `revline mmm` says in one line how to install them."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Run revline with JAX and NumPyro unimportable (a None entry in sys.modules makes `import` fail),
# as in an install without the extra.
_BLOCKED = "import sys, runpy; sys.modules.update(jax=None, numpyro=None); sys.argv = ['revline', *sys.argv[1:]]; runpy.run_module('revline', run_name='__main__')"


def _revline_without_jax(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCKED, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})


def test_jax_and_numpyro_are_the_mmm_extra_and_arviz_is_not_core():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for name in ("jax", "numpyro", "arviz"):
        assert name not in core, name
    assert any(d.startswith("jax") for d in project["optional-dependencies"]["mmm"])
    assert any(d.startswith("numpyro") for d in project["optional-dependencies"]["mmm"])
    assert "revline[mmm]" in project["optional-dependencies"]["dev"]
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[mmm]'" in makefile and "-e '.[dev,mmm]'" in makefile


def test_nothing_outside_the_mmm_imports_jax_at_import_time():
    code = (
        "import sys\n"
        "import revline.cli, revline.api.app, revline.reports.html, revline.demo.pipeline, revline.ops.registry\n"
        "import revline.ops.mmm, revline.ops.codec, revline.commands.mmm, revline.models.mmm\n"
        "from revline.cli import app\n"
        "heavy = sorted(m for m in ('jax', 'numpyro', 'arviz') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_revline_mmm_without_the_extra_says_how_to_install_it(tmp_path):
    for args in (["mmm", "fit", "--db", str(tmp_path / "s.duckdb")], ["mmm", "optimize", "--budget", "1000"]):
        res = _revline_without_jax(*args, cwd=tmp_path)
        assert res.returncode == 1, res.stdout + res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'revline[mmm]'" in lines[0], res.stderr
        assert "Traceback" not in res.stderr
    helped = _revline_without_jax("mmm", "fit", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--fast" in helped.stdout


def test_the_operation_says_it_too_for_server_jobs():
    from revline.models.mmm import MMMBackendMissing, require_backend

    saved = {k: sys.modules.get(k) for k in ("jax", "numpyro")}
    try:
        sys.modules["numpyro"] = None  # type: ignore[assignment]
        with pytest.raises(MMMBackendMissing, match=r"numpyro.*pip install 'revline\[mmm\]'"):
            require_backend()
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


@pytest.mark.slow
def test_demo_runs_without_jax(tmp_path):
    res = _revline_without_jax("demo", "--size", "tiny", "--seed", "3", "--out", str(tmp_path / "files"),
                               "--db", str(tmp_path / "store.duckdb"), "--report", str(tmp_path / "report.html"),
                               cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000
