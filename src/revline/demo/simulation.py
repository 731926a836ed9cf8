"""The generative core: `simulate(params, draws, disabled_channels) -> SimResult`, a pure function.

Why this shape: the ground truth is the difference between the baseline run and a run with one
channel switched off, so the core must be callable many times with the same dice (`Draws`) and
must not write anything. Touches are thinned Poisson processes (a potential touch is kept when
its uniform falls under the day's rate / the channel's peak rate), and each funnel step is the
first passage of a cumulative hazard over a pre-drawn Exp(1) clock. Both constructions make a
switched-off channel remove exactly its own touches and leave every other die where it was.

Work is done per block of accounts (params.BLOCK_ACCOUNTS) so person-by-day grids stay small;
blocks never interact (spend and campaigns are decided before, in marketing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.signal import lfilter

from revline.demo.marketing import MarketingPlan, build_plan
from revline.vocabulary import ATTRIBUTED_REVENUE_TYPES
from revline.demo.params import (
    BLOCK_ACCOUNTS, CHANNELS, EVENT_CHANNELS, WEB_CHANNELS, Params,
)
from revline.demo.population import Population, build_population
from revline.demo.streams import Streams

CH = {c: i for i, c in enumerate(CHANNELS)}
# touch kinds
PAGE, FORM, CONTENT, WEBINAR, EVENT, MAIL, PARTNER, CALL, TASK_EMAIL, MEETING = range(10)
KIND_NAMES = ("page", "form_fill", "content_download", "webinar", "event", "direct_mail", "partner_referral",
              "call", "sales_email", "meeting")
# records written per touch of each kind (a webinar is a Segment registration + a CampaignMember)
RECORDS_PER_KIND = np.array([1, 1, 1, 2, 1, 1, 1, 1, 1, 1])
NB, RENEWAL, EXPANSION = 0, 1, 2  # indexes of REVENUE_TYPES (revline.vocabulary.ATTRIBUTED_REVENUE_TYPES)
REVENUE_TYPES = ATTRIBUTED_REVENUE_TYPES
RATE_CHANNELS = WEB_CHANNELS + ("content", "partner", "email", "sales_outreach")


@dataclass
class Potentials:
    """Pre-drawn candidate touches of one channel in one block (local person index)."""

    person: np.ndarray
    day: np.ndarray
    sec: np.ndarray
    u: np.ndarray  # acceptance uniform (or per-event threshold uniform)
    uc: np.ndarray  # campaign choice
    uk: np.ndarray  # kind / detail choice
    campaign: np.ndarray | None = None  # fixed campaign for event channels
    thresh: np.ndarray | None = None  # event channels: acceptance probability per candidate


class Draws:
    """The common random numbers of one company: population dice, marketing plan, potential touches.

    `cache=True` keeps potential touches between runs (fast counterfactuals, more memory);
    without it they are re-drawn from the same keyed streams, which yields identical numbers.
    """

    def __init__(self, params: Params, cache: bool = True):
        self.params = params
        self.streams = Streams(params.seed)
        self.plan: MarketingPlan = build_plan(params, self.streams)
        self.pop: Population = build_population(params, self.streams)
        self.rmax = {c: float(self.plan.rates[c].max()) for c in RATE_CHANNELS}
        self.cache = cache
        self._cache: dict[tuple[str, int], Potentials] = {}

    def block_people(self, b: int) -> tuple[int, int, int, int]:
        pop = self.pop
        a0 = b * BLOCK_ACCOUNTS
        a1 = min(pop.n_acc, a0 + BLOCK_ACCOUNTS)
        p0 = int(pop.acc_first[a0])
        p1 = int(pop.acc_first[a1 - 1] + pop.acc_size[a1 - 1])
        return a0, a1, p0, p1

    @property
    def n_blocks(self) -> int:
        return -(-self.pop.n_acc // BLOCK_ACCOUNTS)

    def potentials(self, channel: str, b: int) -> Potentials:
        key = (channel, b)
        if key in self._cache:
            return self._cache[key]
        pot = self._draw(channel, b)
        if self.cache:
            self._cache[key] = pot
        return pot

    def _draw(self, channel: str, b: int) -> Potentials:
        _, _, p0, p1 = self.block_people(b)
        n = p1 - p0
        D = self.params.n_days
        rng = self.streams.rng("potential_touches", channel, b)
        prop = self.pop.propensity[p0:p1]
        if channel in EVENT_CHANNELS:
            evs = self.plan.events[channel]
            u = rng.random((len(evs), n))
            mult = np.minimum(prop, 4.0)
            thr = np.minimum(0.95, np.array([e[2] for e in evs])[:, None] * mult[None, :])
            ev_i, person = np.nonzero(u < 0.95)
            m = len(person)
            return Potentials(
                person=person.astype(np.int64), day=np.array([e[0] for e in evs])[ev_i].astype(np.int64),
                sec=(rng.integers(9 * 3600, 18 * 3600, m)).astype(np.int64), u=u[ev_i, person],
                uc=rng.random(m), uk=rng.random(m),
                campaign=np.array([e[1] for e in evs])[ev_i].astype(np.int64), thresh=thr[ev_i, person])
        mult = np.ones(n) if channel == "sales_outreach" else prop
        counts = rng.poisson(self.rmax[channel] * mult * D)
        person = np.repeat(np.arange(n), counts)
        m = len(person)
        day = rng.integers(0, D, m)
        sec = (6 * 3600 + rng.gamma(9.0, 1.0, m) * 4400).astype(np.int64) % 86400
        return Potentials(person=person, day=day, sec=sec, u=rng.random(m), uc=rng.random(m), uk=rng.random(m))


@dataclass
class SimResult:
    """Arrays of one run. Touch and person arrays use global person indices."""

    # touches (one row per generative touch; a webinar writes two records)
    t_person: np.ndarray
    t_day: np.ndarray
    t_sec: np.ndarray
    t_channel: np.ndarray
    t_campaign: np.ndarray  # -1 = none
    t_kind: np.ndarray
    t_uk: np.ndarray
    # people
    lead_day: np.ndarray  # n_days = never
    lead_sec: np.ndarray
    lead_channel: np.ndarray  # -1 = none
    lead_campaign: np.ndarray
    mql_day: np.ndarray
    sql_day: np.ndarray
    # accounts
    opp_day: np.ndarray  # new-business opportunity creation (n_days = never)
    primary_person: np.ndarray  # -1 = none
    # opportunities (one row each)
    o_account: np.ndarray
    o_type: np.ndarray
    o_created: np.ndarray
    o_close: np.ndarray
    o_closed: np.ndarray
    o_won: np.ndarray
    o_amount: np.ndarray  # in the account's currency
    o_amount_usd: np.ndarray
    o_stage_frac: np.ndarray  # how far a lost deal got
    o_campaign: np.ndarray
    o_p_true: np.ndarray  # the probability the deal was won with (win_prob, renew_prob or expansion_win_prob)
    o_intent: np.ndarray  # the account intent that probability was computed from
    a_intent_week: np.ndarray  # accounts x weeks: mean daily account intent per Monday-started week (float32)
    touch_counts: np.ndarray  # per channel (kept even when the touch arrays are dropped)
    record_counts: np.ndarray

    def touches_by_channel(self) -> dict[str, int]:
        return {c: int(self.touch_counts[i]) for i, c in enumerate(CHANNELS)}

    def records_by_channel(self) -> dict[str, int]:
        return {c: int(self.record_counts[i]) for i, c in enumerate(CHANNELS)}


def _decay(x: np.ndarray, decay: float) -> np.ndarray:
    """Geometric decay along days, computed only on rows that have any touch."""
    out = np.zeros(x.shape, dtype=np.float32)
    rows = np.flatnonzero(x.any(axis=1))
    if len(rows):
        out[rows] = lfilter(np.array([1.0], np.float32), np.array([1.0, -decay], np.float32), x[rows], axis=1)
    return out


def _grid(flat: list[np.ndarray], w: list[np.ndarray], n: int, D: int) -> np.ndarray:
    """Sum of touch effects per (person, day) from flat indices person * D + day."""
    if not flat:
        return np.zeros((n, D), dtype=np.float32)
    return np.bincount(np.concatenate(flat), weights=np.concatenate(w), minlength=n * D).reshape(n, D).astype(np.float32)


def first_passage(h: np.ndarray, clock: np.ndarray, start: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """First day d >= start where the hazard accumulated since start reaches the Exp(1) clock.

    Returns n_days for "never". Lower hazard (pointwise) and later start can only delay it.
    """
    n, D = h.shape
    days = np.arange(D)
    H = np.cumsum(np.where(days[None, :] >= start[:, None], h, 0.0), axis=1)
    fire = H >= clock[:, None]
    if eligible is not None:
        fire &= eligible
    anyf = fire.any(axis=1)
    return np.where(anyf, fire.argmax(axis=1), D).astype(np.int64)


def _passage(intent: np.ndarray, fit: np.ndarray, hazard: tuple[float, float], clock: np.ndarray,
             start: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """first_passage on hazard fit * (base + slope * intent), computed only for rows that can start."""
    D = intent.shape[1]
    out = np.full(len(start), D, dtype=np.int64)
    rows = np.flatnonzero(start < D)
    if len(rows):
        h = fit[rows, None].astype(np.float32) * (np.float32(hazard[0]) + np.float32(hazard[1]) * intent[rows])
        out[rows] = first_passage(h, clock[rows], start[rows], None if eligible is None else eligible[rows])
    return out


def _mean_over(cum: np.ndarray, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of the row's series over [lo, hi] given its cumulative sum."""
    lo = np.clip(lo, 0, cum.shape[1] - 1)
    hi = np.clip(hi, lo, cum.shape[1] - 1)
    tot = cum[rows, hi] - np.where(lo > 0, cum[rows, np.maximum(lo - 1, 0)], 0.0)
    return tot / (hi - lo + 1)


def _saturating(p: tuple[float, float, float], x: np.ndarray) -> np.ndarray:
    return p[0] + p[1] * (1.0 - np.exp(-np.maximum(x, 0.0) / p[2]))


def _to_currency(usd: np.ndarray, currency: np.ndarray, fx: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    rate = np.array([fx[c] for c in currency]) if len(currency) else np.zeros(0)
    amt = np.maximum(np.round(usd / np.where(rate > 0, rate, 1.0), -2), 1000.0)
    return amt, amt * rate


def simulate(params: Params, draws: Draws, disabled_channels: frozenset[str] = frozenset(),
             keep_touches: bool = True) -> SimResult:
    """Run the company once; `disabled_channels` removes those channels' touches (tv: its lift).

    `keep_touches=False` drops the per-touch arrays (counts stay): counterfactual runs of the
    large demo only need outcomes, and millions of touches per run would double the memory.
    """
    unknown = set(disabled_channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown channel(s) to disable: {sorted(unknown)}")
    parts = [_simulate_block(params, draws, b, frozenset(disabled_channels), keep_touches) for b in range(draws.n_blocks)]
    out = {}
    for f in SimResult.__dataclass_fields__:
        if f in ("touch_counts", "record_counts"):
            out[f] = np.sum([getattr(p, f) for p in parts], axis=0)
        else:
            out[f] = np.concatenate([getattr(p, f) for p in parts])
            for p in parts:  # free block copies as we go
                setattr(p, f, None)
    return SimResult(**out)


def _simulate_block(params: Params, draws: Draws, b: int, disabled: frozenset[str], keep_touches: bool = True) -> SimResult:
    pop, plan = draws.pop, draws.plan
    D = params.n_days
    a0, a1, p0, p1 = draws.block_people(b)
    n, na = p1 - p0, a1 - a0
    pacc = pop.person_acc[p0:p1] - a0
    existing_a = pop.existing[a0:a1]
    existing_p = existing_a[pacc]
    fit_a = pop.fit[a0:a1]
    fit_p = fit_a[pacc] * pop.seniority[p0:p1]
    rates = plan.rates_no_tv if "tv" in disabled else plan.rates
    decay = params.decay
    NEVER = D

    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("person", "day", "sec", "channel", "campaign", "kind", "uk")}

    def keep(ch: str, pot: Potentials, mask: np.ndarray, kind: np.ndarray | int, campaign: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        cols["person"].append(pot.person[idx])
        cols["day"].append(pot.day[idx])
        cols["sec"].append(pot.sec[idx])
        cols["channel"].append(np.full(len(idx), CH[ch], dtype=np.int64))
        cols["campaign"].append(np.asarray(campaign)[idx] if np.ndim(campaign) else np.full(len(idx), campaign, dtype=np.int64))
        cols["kind"].append(np.asarray(kind)[idx] if np.ndim(kind) else np.full(len(idx), kind, dtype=np.int64))
        cols["uk"].append(pot.uk[idx])

    def accepted(ch: str) -> tuple[Potentials, np.ndarray]:
        pot = draws.potentials(ch, b)
        if ch in disabled:
            return pot, np.zeros(len(pot.person), dtype=bool)
        if pot.thresh is not None:
            return pot, pot.u < pot.thresh
        return pot, pot.u < rates[ch][pot.day] / draws.rmax[ch]

    def campaigns_for(ch: str, pot: Potentials) -> np.ndarray:
        if ch in plan.campaign_cum:
            idxs, cum = plan.campaign_cum[ch]
            k = (pot.uc[None, :] > cum[:, pot.day]).sum(axis=0)
            return idxs[np.minimum(k, len(idxs) - 1)]
        if ch == "email":
            newsletters, nurture = plan.email_campaigns
            return np.where(pot.uc < 0.6, newsletters[plan.month_of_day[pot.day]], nurture)
        if pot.campaign is not None:
            return pot.campaign
        return np.full(len(pot.person), -1, dtype=np.int64)

    # 1. Touches that need no prior identity: web visits, content downloads, partner referrals.
    f0: list[np.ndarray] = []
    w0: list[np.ndarray] = []
    web_day = np.zeros((n, D), dtype=bool)
    first = {}
    web_pots = {}
    for ch in WEB_CHANNELS + ("content", "partner"):
        pot, m = accepted(ch)
        camp = campaigns_for(ch, pot)
        if ch == "partner":  # a CampaignMember is unique per (campaign, person): keep the first referral
            idx = np.flatnonzero(m)
            idx = idx[np.lexsort((pot.sec[idx], pot.day[idx], camp[idx], pot.person[idx]))]
            _, firsts = np.unique(np.stack([pot.person[idx], camp[idx]]), axis=1, return_index=True)
            m = np.zeros_like(m)
            m[idx[firsts]] = True
        kind = {"content": CONTENT, "partner": PARTNER}.get(ch, PAGE)
        keep(ch, pot, m, kind, camp)
        f0.append(pot.person[m] * D + pot.day[m])
        w0.append(np.full(len(f0[-1]), params.effect[ch]))
        if ch in WEB_CHANNELS:
            web_day.reshape(-1)[pot.person[m] * D + pot.day[m]] = True
            web_pots[ch] = (pot, m, camp)
        else:
            f = np.full(n, NEVER, dtype=np.int64)
            np.minimum.at(f, pot.person[m], pot.day[m])
            first[ch] = (f, pot, m, camp)
    I0 = _decay(_grid(f0, w0, n, D), decay)

    # 2. Lead creation: a form fill on a web visit (hazard first passage) or the first gated-content
    #    download / partner referral, whichever comes first. Existing customers are contacts already.
    t_fp = _passage(I0, fit_p, params.hazard_lead, pop.e_lead[p0:p1],
                    np.where(existing_p | ~web_day.any(axis=1), NEVER, 0), web_day)
    del web_day
    fc, fpart = first["content"][0], first["partner"][0]
    lead_day = np.minimum(np.minimum(t_fp, fc), fpart)
    lead_day = np.where(existing_p, NEVER, lead_day)
    lead_channel = np.full(n, -1, dtype=np.int64)
    lead_campaign = np.full(n, -1, dtype=np.int64)
    lead_sec = np.zeros(n, dtype=np.int64)
    has = lead_day < NEVER
    via_content = has & (fc == lead_day)
    via_partner = has & ~via_content & (fpart == lead_day)
    via_web = has & ~via_content & ~via_partner
    for ch, mask_people in (("content", via_content), ("partner", via_partner)):
        _, pot, m, camp = first[ch]
        sel = np.flatnonzero(m & mask_people[pot.person] & (pot.day == lead_day[pot.person]))
        order = sel[np.lexsort((pot.sec[sel], pot.person[sel]))]
        pp, i = np.unique(pot.person[order], return_index=True)
        lead_channel[pp] = CH[ch]
        lead_campaign[pp] = camp[order[i]]
        lead_sec[pp] = pot.sec[order[i]]
    # web: the first visit of the lead day carries the form fill (a Form Submitted track event)
    cand_p, cand_s, cand_c, cand_k = [], [], [], []
    for ch, (pot, m, camp) in web_pots.items():
        sel = np.flatnonzero(m & via_web[pot.person] & (pot.day == lead_day[pot.person]))
        cand_p.append(pot.person[sel])
        cand_s.append(pot.sec[sel])
        cand_c.append(np.full(len(sel), CH[ch]))
        cand_k.append(camp[sel])
    cp, cs, cc, ck = (np.concatenate(v) for v in (cand_p, cand_s, cand_c, cand_k))
    order = np.lexsort((cc, cs, cp))
    pp, i = np.unique(cp[order], return_index=True)
    lead_channel[pp] = cc[order[i]]
    lead_campaign[pp] = ck[order[i]]
    lead_sec[pp] = np.minimum(cs[order[i]] + 90, 86399)
    form_p = pp
    cols["person"].append(form_p)
    cols["day"].append(lead_day[form_p])
    cols["sec"].append(lead_sec[form_p])
    cols["channel"].append(lead_channel[form_p])
    cols["campaign"].append(lead_campaign[form_p])
    cols["kind"].append(np.full(len(form_p), FORM, dtype=np.int64))
    cols["uk"].append(np.zeros(len(form_p)))

    # 3. Touches that need a known person (lead or contact): email clicks, webinars, events, mail.
    known_day = np.where(existing_p, -1, lead_day)
    f1: list[np.ndarray] = []
    w1: list[np.ndarray] = []
    for ch in ("email", "webinar", "events", "direct_mail"):
        pot, m = accepted(ch)
        gate_day = pot.day - (1 + (pot.uk * 14).astype(np.int64)) if ch == "webinar" else pot.day
        m = m & (gate_day > known_day[pot.person])
        kind = {"email": PAGE, "webinar": WEBINAR, "events": EVENT, "direct_mail": MAIL}[ch]
        keep(ch, pot, m, kind, campaigns_for(ch, pot))
        f1.append(pot.person[m] * D + pot.day[m])
        w1.append(np.full(len(f1[-1]), params.effect[ch]))
    I1 = I0 + _decay(_grid(f1, w1, n, D), decay)
    del I0

    # 4. MQL, then sales outreach for a window after it, then SQL.
    mql_day = _passage(I1, fit_p, params.hazard_mql, pop.e_mql[p0:p1], np.minimum(lead_day + 1, NEVER))
    pot, m = accepted("sales_outreach")
    md = mql_day[pot.person]
    m = m & (pot.day > md) & (pot.day <= md + params.sales_window_days)
    outreach_kind = np.where(pot.uk < 0.45, CALL, np.where(pot.uk < 0.8, TASK_EMAIL, MEETING))
    keep("sales_outreach", pot, m, outreach_kind, np.full(len(pot.person), -1, dtype=np.int64))
    I2 = I1 + _decay(_grid([pot.person[m] * D + pot.day[m]], [np.full(int(m.sum()), params.effect["sales_outreach"])], n, D), decay)
    del I1
    sql_day = _passage(I2, fit_p, params.hazard_sql, pop.e_sql[p0:p1], np.minimum(mql_day + 1, NEVER))

    # 5. Accounts: a new-business opportunity after the first SQL, on account intent.
    starts = pop.acc_first[a0:a1] - p0
    A = np.add.reduceat(I2, starts, axis=0)
    del I2
    first_sql = np.minimum.reduceat(sql_day, starts)
    opp_day = _passage(A, fit_a, params.hazard_opp, pop.e_opp[a0:a1],
                       np.where(existing_a, NEVER, np.minimum(first_sql + 1, NEVER)))
    Acum = np.cumsum(A, axis=1, dtype=np.float64)
    # the latent buying intent per week (the truth an in-market score is judged against); weeks
    # start on Monday as in the weekly truth, the first one partial
    week_of_day = (np.arange(D) + date.fromisoformat(params.start).weekday()) // 7
    week_first = np.flatnonzero(np.r_[True, np.diff(week_of_day) > 0])
    a_intent_week = (np.add.reduceat(A, week_first, axis=1) / np.diff(np.r_[week_first, D])).astype(np.float32) \
        if keep_touches else np.zeros((na, 0), dtype=np.float32)
    rows = np.arange(na)
    # primary contact: the member who reached SQL first (ties: lowest index)
    key = sql_day * 8 + pop.person_rank[p0:p1]
    best = np.minimum.reduceat(key, starts)
    primary = np.where(opp_day < NEVER, starts + (best % 8), -1)

    cycle = pop.cycle[a0:a1]
    nb = opp_day < NEVER
    close = opp_day + cycle
    imean = _mean_over(Acum, rows, opp_day, close)
    p_win = _saturating(params.win_prob, imean)
    win_eventual = pop.u_win[a0:a1] < p_win
    nb_closed = nb & (close <= D - 1)
    nb_won = nb_closed & win_eventual
    currency = pop.currency[a0:a1]
    amt_nb, amt_nb_usd = _to_currency(pop.arr_draw[a0:a1], currency, params.fx_to_usd)

    # 6. Customers: renewals at each anniversary, churn on a lost renewal, at most one expansion.
    cust_start = np.where(existing_a, 0, np.where(nb_won, close, NEVER))
    anniv1 = np.where(existing_a, pop.anniversary[a0:a1], np.where(nb_won, close + 365, NEVER + 10_000))
    anniv2 = np.where(existing_a, anniv1 + 365, NEVER + 10_000)
    lead_days = params.renewal_lead_days
    renew_rows = []  # (account, anniv, created)
    churn = np.full(na, NEVER, dtype=np.int64)
    alive = np.ones(na, dtype=bool)
    for j, anniv in enumerate((anniv1, anniv2)):
        created = np.maximum(anniv - lead_days, 0)
        exists = alive & (created <= D - 1) & (anniv < NEVER + 5000)
        imean_r = _mean_over(Acum, rows, created - 90, created)
        p_r = _saturating(params.renew_prob, imean_r)
        won_r = pop.u_renew[a0:a1, j] < p_r
        closed = exists & (anniv <= D - 1)
        lost = closed & ~won_r
        churn = np.where(lost & (churn == NEVER), anniv, churn)
        renew_rows.append((exists, created, anniv, closed, closed & won_r, p_r, imean_r))
        alive = alive & ~lost
    cust_end = churn
    exp_day = _passage(A, fit_a, params.hazard_expansion, pop.e_exp[a0:a1], np.minimum(cust_start + 1, NEVER))
    has_exp = (exp_day < cust_end) & (exp_day < NEVER)
    exp_close = exp_day + pop.exp_cycle[a0:a1]
    a_at = A[rows, np.minimum(exp_day, D - 1)]
    p_exp = _saturating(params.expansion_win_prob, a_at)
    exp_won_ev = pop.u_exp_win[a0:a1] < p_exp
    exp_closed = has_exp & (exp_close <= D - 1)
    exp_won = exp_closed & exp_won_ev
    amt_exp, amt_exp_usd = _to_currency(pop.arr_draw[a0:a1] * pop.exp_share[a0:a1], currency, params.fx_to_usd)

    o: dict[str, list[np.ndarray]] = {k: [] for k in ("account", "type", "created", "close", "closed", "won", "amount", "stage",
                                                       "campaign", "p_true", "intent")}

    def add(mask, typ, created, close_, closed, won, amount, campaign=None, p_true=None, intent=None):
        idx = np.flatnonzero(mask)
        o["account"].append(idx + a0)
        o["type"].append(np.full(len(idx), typ))
        o["created"].append(created[idx])
        o["close"].append(close_[idx])
        o["closed"].append(closed[idx])
        o["won"].append(won[idx])
        o["amount"].append(amount[idx])
        o["stage"].append(pop.lost_stage[a0:a1][idx])
        o["campaign"].append(campaign[idx] if campaign is not None else np.full(len(idx), -1))
        o["p_true"].append(p_true[idx])
        o["intent"].append(intent[idx])

    prim_local = np.where(primary >= 0, primary, 0)
    add(nb, NB, opp_day, close, nb_closed, nb_won, amt_nb, np.where(primary >= 0, lead_campaign[prim_local], -1),
        p_true=p_win, intent=imean)
    add(has_exp, EXPANSION, exp_day, exp_close, exp_closed, exp_won, amt_exp, p_true=p_exp, intent=a_at)
    uplift = 1.0 + pop.renew_uplift[a0:a1]
    prev = amt_nb
    for exists, created, anniv, closed, won, p_r, imean_r in renew_rows:
        amount = np.round(prev * uplift + np.where(exp_won & (exp_close < created), amt_exp, 0.0), -2)
        add(exists, RENEWAL, created, anniv, closed, won, amount, p_true=p_r, intent=imean_r)
        prev = amount
    fx = np.array([params.fx_to_usd[c] for c in pop.currency]) if len(pop.currency) else np.zeros(0)
    oa = np.concatenate(o["account"]).astype(np.int64)
    amount = np.concatenate(o["amount"]).astype(float)
    t_channel = np.concatenate(cols["channel"]).astype(np.int64)
    t_kind = np.concatenate(cols["kind"]).astype(np.int64)
    touch_counts = np.bincount(t_channel, minlength=len(CHANNELS))
    record_counts = np.bincount(t_channel, weights=RECORDS_PER_KIND[t_kind], minlength=len(CHANNELS)).astype(np.int64)
    if not keep_touches:
        cols = {k: [np.zeros(0, dtype=np.int64)] for k in cols}
        t_channel = t_kind = np.zeros(0, dtype=np.int64)
    return SimResult(
        t_person=(np.concatenate(cols["person"]) + p0).astype(np.int32),
        t_day=np.concatenate(cols["day"]).astype(np.int32),
        t_sec=np.concatenate(cols["sec"]).astype(np.int32),
        t_channel=t_channel.astype(np.int8),
        t_campaign=np.concatenate(cols["campaign"]).astype(np.int32),
        t_kind=t_kind.astype(np.int8),
        t_uk=np.concatenate(cols["uk"]).astype(np.float64),
        touch_counts=touch_counts, record_counts=record_counts,
        lead_day=lead_day, lead_sec=lead_sec, lead_channel=lead_channel, lead_campaign=lead_campaign,
        mql_day=mql_day, sql_day=sql_day, opp_day=opp_day,
        primary_person=np.where(primary >= 0, primary + p0, -1),
        o_account=oa, o_type=np.concatenate(o["type"]).astype(np.int64),
        o_created=np.concatenate(o["created"]).astype(np.int64), o_close=np.concatenate(o["close"]).astype(np.int64),
        o_closed=np.concatenate(o["closed"]).astype(bool), o_won=np.concatenate(o["won"]).astype(bool),
        o_amount=amount, o_amount_usd=amount * fx[oa],
        o_stage_frac=np.concatenate(o["stage"]).astype(float), o_campaign=np.concatenate(o["campaign"]).astype(np.int64),
        o_p_true=np.concatenate(o["p_true"]).astype(float), o_intent=np.concatenate(o["intent"]).astype(float),
        a_intent_week=a_intent_week,
    )


__all__ = ["Draws", "SimResult", "simulate", "first_passage", "build_plan", "build_population", "Streams"]
