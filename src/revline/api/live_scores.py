"""Live in-market scores: the accounts that collected events touched are re-scored within seconds.

The live pipeline (revline.api.live) hands over the accounts of each derivation batch's touches;
this module's own thread scores them and stores the scores (revline.ops.scores), and the alerts
of upward threshold crossings go to the sender (revline.api.alerts). Why a thread of its own:
fitting the model takes seconds to minutes and scoring a batch a fraction of a second; neither
may delay the collector's loader or the live pipeline's attribution refresh.

The model is fitted when the thread starts and again every `refit_seconds`, and kept beside the
store (`<store>.scorer.pkl`, mode 0600, written by this process only): a restart within
`refit_seconds` of the last fit reuses it instead of fitting again, which takes minutes on a large
store (a file that does not load is ignored and the model fitted). After each fit (or load) every
account is scored (no alerts: that is the baseline the next crossings are measured against).
After a writer job (ingest, stitch...) every account is scored again, alerts included, since the
job may have moved touches or stages of any account.
Until the first fit is done, touched accounts wait (and are scored right after it). Scores are
computed on a cursor without the write lock (a read); only storing them takes the lock, briefly.
A failing fit is logged and retried after `retry_seconds`, a failing batch after 5 s; neither is
raised into the pipeline.
"""

from __future__ import annotations

import logging
import os
import pickle  # noqa: S403 - only our own model file, written beside the store by this process (see above)
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from revline.api.alerts import AlertSender
from revline.ops.scores import AlertRule, store_scores

log = logging.getLogger("revline.live.scores")

# score_fn(con, as_of=None, account_ids=None, model=None) -> DataFrame (revline.models.scoring.score_accounts)
ScoreFn = Callable[..., pd.DataFrame]
# fit_fn(con, as_of) -> a fitted model (revline.models.scoring.fit_scorer)
FitFn = Callable[[duckdb.DuckDBPyConnection, Any], Any]


@dataclass(frozen=True)
class Scoring:
    """The scoring model's two functions (revline.models.scoring's in the server) and how often to refit."""

    score_fn: ScoreFn
    fit_fn: FitFn
    refit_seconds: float = 86400.0
    # the scoring time of a round (None: the score function's default)
    as_of_fn: Callable[[duckdb.DuckDBPyConnection], Any] | None = None


def model_path(db_path: Path | str) -> Path:
    """Where the server keeps its fitted scoring model: beside the store."""
    p = Path(db_path)
    return p.with_name(p.name + ".scorer.pkl")


@dataclass
class ScoreStats:
    """Counters since the server started (reported by /admin/ping under live.scores)."""

    ready: bool = False  # a model is fitted and every account was scored with it
    fits: int = 0
    loaded: bool = False  # the model came from the file of an earlier run
    fit_seconds: float = 0.0
    fitted_at: str | None = None
    batches: int = 0  # live batches scored
    scored: int = 0  # accounts scored by live batches
    last_seconds: float = 0.0  # time to score and store the last live batch
    alerts: int = 0  # alerts fired (queued for the webhook)
    failures: int = 0
    last_error: str | None = None


class LiveScorer:
    """Scores touched accounts from its own thread (see the module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, write_lock: threading.RLock, *, score_fn: ScoreFn,
                 fit_fn: FitFn, rule: AlertRule | None = None, sender: AlertSender | None = None,
                 refit_seconds: float = 86400.0, retry_seconds: float = 300.0, tick: float = 0.2,
                 as_of_fn: Callable[[duckdb.DuckDBPyConnection], Any] | None = None,
                 model_file: Path | None = None) -> None:
        self.con = con
        self.write_lock = write_lock
        self.score_fn = score_fn
        self.fit_fn = fit_fn
        self.as_of_fn = as_of_fn
        self.model_file = model_file
        self.rule = rule if sender is not None else None
        self.sender = sender
        self.refit_seconds = refit_seconds
        self.retry_seconds = retry_seconds
        self.tick = tick
        self.stats = ScoreStats()
        self.model: Any = None
        self._fitted = 0.0
        self._failed_fit = -float("inf")
        self._fit_warned = False
        self._pending: set[str] = set()
        self._all = False  # every account is due (after a writer job)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="revline-live-scores", daemon=True)

    def start(self) -> None:
        if self.sender is not None:
            self.sender.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; a query it is running (a fit's feature queries) is interrupted."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            try:
                self.con.interrupt()
            except duckdb.Error:
                pass
            self._thread.join(timeout=30)
        if self.sender is not None:
            self.sender.stop()

    def submit(self, accounts: set[str]) -> None:
        """Queue accounts for re-scoring (called by the live pipeline; returns at once)."""
        if not accounts:
            return
        with self._lock:
            self._pending |= accounts
        self._wake.set()

    def submit_all(self) -> None:
        """Queue every account for re-scoring, alerts included (after a writer job; returns at once)."""
        self._all = True
        self._wake.set()

    def _as_of(self) -> Any:
        return None if self.as_of_fn is None else self.as_of_fn(self.con)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - logged; the accounts are retried after retry_seconds
                if self._stop.is_set():
                    return  # interrupted by stop()
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.exception("live scoring failed; the accounts are tried again in 5 s")
                self._stop.wait(5.0)

    def step(self) -> None:
        """One round: (re)fit when due, then score what is pending."""
        now = time.monotonic()
        due = self.model is None or now - self._fitted >= self.refit_seconds
        if due and now - self._failed_fit >= self.retry_seconds:
            self._fit_and_score_all()
        if self.model is None:
            return
        if self._all:
            self._all = False
            try:
                self._score_all(alerts=True)
            except BaseException:
                self._all = True
                raise
        with self._lock:
            accounts, self._pending = self._pending, set()
        if accounts:
            try:
                self.score(accounts)
            except BaseException:
                with self._lock:
                    self._pending |= accounts
                raise

    def _load(self) -> Any:
        """The model of an earlier run, if its file is younger than refit_seconds and loads."""
        if self.model_file is None or self.stats.fits:
            return None
        try:
            age = time.time() - self.model_file.stat().st_mtime
            if not 0 <= age < self.refit_seconds:
                return None
            with open(self.model_file, "rb") as fh:
                model = pickle.load(fh)  # noqa: S301 - our own file (module docstring)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - another revline's model, a torn file: fit anew
            log.warning("the saved scoring model %s does not load (%s); fitting a new one", self.model_file, exc)
            return None
        self._fitted = time.monotonic() - age  # refit when the saved one is due
        return model

    def _save(self, model: Any) -> None:
        if self.model_file is None:
            return
        tmp = self.model_file.with_name(self.model_file.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(model, fh)
            os.replace(tmp, self.model_file)
        except Exception as exc:  # noqa: BLE001 - the model is in memory; only a restart refits
            log.warning("the scoring model could not be saved to %s: %s", self.model_file, exc)
            tmp.unlink(missing_ok=True)

    def _fit_and_score_all(self) -> None:
        started = time.perf_counter()
        fitted_at = time.monotonic()
        try:
            model = self._load()
            loaded = model is not None
            if loaded:
                fitted_at = self._fitted
            else:
                model = self.fit_fn(self.con, self._as_of())
        except Exception as exc:  # noqa: BLE001 - a store without enough history: try again later
            if self._stop.is_set():
                return  # interrupted by stop()
            self._failed_fit = time.monotonic()
            self.stats.failures += 1
            self.stats.last_error = f"fit: {type(exc).__name__}: {exc}"[:500]
            level = logging.INFO if self._fit_warned else logging.WARNING  # one warning, not one per retry
            self._fit_warned = True
            log.log(level, "the in-market scoring model could not be fitted (%s); trying again in %.0f s",
                    exc, self.retry_seconds)
            return
        if not loaded:
            self._save(model)
        scores = self._score_all(alerts=False, model=model)  # the baseline of the new model: no alerts
        self.model, self._fitted = model, fitted_at
        s = self.stats
        s.fits += 1
        s.loaded = loaded
        s.fit_seconds = time.perf_counter() - started
        s.fitted_at = datetime.utcnow().isoformat(sep=" ", timespec="seconds")  # noqa: DTZ003 - UTC like the store
        s.ready = True
        log.info("in-market model %s and %d accounts scored in %.1f s", "loaded" if loaded else "fitted",
                 len(scores), s.fit_seconds)

    def _score_all(self, alerts: bool, model: Any = None) -> pd.DataFrame:
        scores = self.score_fn(self.con, as_of=self._as_of(), model=model if model is not None else self.model)
        with self.write_lock:
            fired = store_scores(self.con, scores, self.rule if alerts else None)
        self._queue(fired)
        return scores

    def _queue(self, alerts: list) -> None:
        if alerts and self.sender is not None:
            self.sender.submit(alerts)
        self.stats.alerts += len(alerts)

    def score(self, accounts: set[str]) -> None:
        """Score `accounts` with the current model, store the scores, queue the alerts they fire."""
        started = time.perf_counter()
        scores = self.score_fn(self.con, as_of=self._as_of(), account_ids=sorted(accounts), model=self.model)
        with self.write_lock:
            alerts = store_scores(self.con, scores, self.rule)
        self._queue(alerts)
        s = self.stats
        s.batches += 1
        s.scored += len(scores)
        s.last_seconds = time.perf_counter() - started


def default_scoring() -> Scoring:
    """revline.models.scoring's model, imported when the scorer thread first calls it (not at start).

    The scoring time of every round is the store's latest data plus one second: the model sees
    touches strictly before its scoring time, so the newest collected touch counts, and a demo
    store whose data ended long ago is scored as of its own last day (as `revline score` does)."""

    def score(con: duckdb.DuckDBPyConnection, as_of: Any = None, account_ids: Any = None, model: Any = None) -> pd.DataFrame:
        from revline.models.scoring import score_accounts

        return score_accounts(con, as_of=as_of, account_ids=account_ids, model=model)

    def fit(con: duckdb.DuckDBPyConnection, as_of: Any) -> Any:
        from revline.models.scoring import fit_scorer

        return fit_scorer(con, as_of)

    def as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
        from revline.models.scoring.features import data_end

        end = data_end(con)
        return None if end is None else end + timedelta(seconds=1)

    return Scoring(score, fit, as_of_fn=as_of)
