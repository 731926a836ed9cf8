"""The marketing plan of the demo company: campaigns, daily spend, and the touch rates spend buys.

Why separate from the funnel: spend and campaigns are decided by the company before any buyer
reacts, so they are identical in every counterfactual run; only the funnel (simulation.py) is
re-run. Spend varies by quarterly budget moves, dark weeks, flights and seasonality, each
channel on its own draws, so a mix model sees independent variation to identify effects from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from scipy.signal import lfilter

from revline.demo.params import CHANNELS, PAID_RATE_CHANNELS, START, TV_LIFTED, Params
from revline.demo.streams import Streams

_CAMPAIGN_TYPE = {
    "paid_search": "Advertisement", "paid_social": "Advertisement", "display": "Advertisement",
    "content": "Content Syndication", "partner": "Partners", "email": "Email",
    "webinar": "Webinar", "direct_mail": "Direct Mail", "tv": "Television",
}
# channel -> [(campaign name, share of the channel's spend, first day, last day or None = to the end)]
_ALWAYS_ON: dict[str, list[tuple[str, float, int, int | None]]] = {
    "paid_search": [("Google Ads - Brand", 0.30, 0, None), ("Google Ads - Non-Brand", 0.45, 0, None),
                    ("Bing Ads - Non-Brand", 0.10, 0, None), ("Google Ads - Competitor", 0.15, 182, None)],
    "paid_social": [("LinkedIn - ABM Sponsored Content", 0.5, 0, None),
                    ("LinkedIn - Lead Gen Forms", 0.3, 0, None), ("Meta - Retargeting", 0.2, 90, 540)],
    "display": [("Programmatic - Prospecting", 0.6, 0, None), ("Display - Retargeting", 0.4, 0, None)],
    "content": [("TechTarget - Syndication", 0.6, 0, None), ("NetLine - Syndication", 0.4, 120, None)],
    "partner": [("Partner MDF - Resellers", 0.6, 0, None), ("Customer Referral Program", 0.4, 0, None)],
}
_PARENTS = {"paid_search": "Paid Search Program", "paid_social": "Paid Social Program",
            "display": "Display Program", "webinar": "Webinar Series", "events": "Field Events Program",
            "email": "Email Programs"}
_TRADE_SHOWS = ["SaaStr Annual", "Dreamforce", "B2B Marketing Exchange", "Forrester B2B Summit",
                "Gartner CMO Symposium", "INBOUND", "MarTech Conference", "RevOps Summit",
                "Pavilion CMO Summit", "Web Summit"]


@dataclass
class Campaign:
    """One Salesforce campaign of the plan: its row in `spend`, its channel and its live days."""

    idx: int
    channel: str
    name: str
    type: str
    parent: int
    start_day: int
    end_day: int
    budgeted: float = 0.0
    actual: float = 0.0


@dataclass
class MarketingPlan:
    """Everything the company decides; shared by all counterfactual runs."""

    campaigns: list[Campaign]
    spend: np.ndarray  # (n_campaigns, n_days) USD
    rates: dict[str, np.ndarray]  # channel -> per-person daily rate with TV on
    rates_no_tv: dict[str, np.ndarray]  # same without the TV lift
    campaign_cum: dict[str, tuple[np.ndarray, np.ndarray]]  # channel -> (campaign idxs, cum share K x D)
    events: dict[str, list[tuple[int, int, float]]]  # channel -> [(day, campaign idx, attend prob)]
    email_campaigns: tuple[np.ndarray, int]  # newsletter idx per month index, nurture idx
    month_of_day: np.ndarray
    season: np.ndarray
    weekday: np.ndarray

    def channel_spend(self) -> dict[str, np.ndarray]:
        out = {c: np.zeros(self.spend.shape[1]) for c in CHANNELS}
        for c in self.campaigns:
            out[c.channel] += self.spend[c.idx]
        return out


def day_of(d: date) -> int:
    """Day index of a date in the simulated window (0 = START)."""
    return (d - START).days


def date_of(day: int) -> date:
    """Calendar date of a day index (the inverse of `day_of`)."""
    return START + timedelta(days=int(day))


def hill(x: np.ndarray, k: float, s: float) -> np.ndarray:
    """Hill saturation in [0, 1): half of the effect at spend k, steepness s."""
    x = np.maximum(x, 0.0)
    return x**s / (x**s + k**s)


def adstock(x: np.ndarray, theta: float) -> np.ndarray:
    """Geometric carry-over normalised so a constant spend keeps its level."""
    return lfilter([1.0 - theta], [1.0, -theta], x)


def _calendar(params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_days = params.n_days
    days = [date_of(i) for i in range(n_days)]
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    dow = np.array([d.weekday() for d in days])
    month = np.array([(d.year - START.year) * 12 + d.month - START.month for d in days])
    season = 1.0 + params.season_amplitude * np.sin(2 * np.pi * (doy - 60) / 365.25)
    holiday = np.array([(d.month == 12 and d.day >= 20) or (d.month == 1 and d.day <= 3) for d in days])
    august = np.array([d.month == 8 for d in days])
    season = season * np.where(holiday, params.holiday_factor, 1.0) * np.where(august, params.august_factor, 1.0)
    weekday = np.where(dow == 5, params.weekend_factor[0], np.where(dow == 6, params.weekend_factor[1], 1.0))
    return season, weekday, month, dow


def build_plan(params: Params, streams: Streams) -> MarketingPlan:
    """Campaigns, daily spend per campaign and the touch-rate curves that spend buys."""
    n_days = params.n_days
    scale = params.spend_scale
    season, weekday, month, dow = _calendar(params)
    quarter = month // 3
    campaigns: list[Campaign] = []
    spend_rows: list[np.ndarray] = []

    def add(channel: str, name: str, parent: int = -1, start: int = 0, end: int = n_days - 1,
            ctype: str | None = None) -> int:
        c = Campaign(len(campaigns), channel, name, ctype or _CAMPAIGN_TYPE.get(channel, "Other"), parent, start, end)
        campaigns.append(c)
        spend_rows.append(np.zeros(n_days))
        return c.idx

    parents = {ch: add(ch, f"FY25-26 {nm}", ctype=_CAMPAIGN_TYPE.get(ch, "Conference" if ch == "events" else "Other"))
               for ch, nm in _PARENTS.items()}

    # Always-on paid channels: quarterly budget level x dark weeks x seasonality x daily noise.
    for ch, camps in _ALWAYS_ON.items():
        rng = streams.rng("spend", ch)
        level = rng.lognormal(0.0, params.budget_level_sigma, size=quarter.max() + 1)[quarter]
        weeks = np.arange(n_days) // 7
        dark_p = params.dark_week_prob[ch]
        dark = rng.random(weeks.max() + 1) < dark_p
        noise = rng.lognormal(0.0, params.daily_spend_noise_sigma, size=n_days)
        total = params.ref_spend[ch] * scale * level * np.where(dark[weeks], 0.0, 1.0) * (0.6 + 0.4 * season) * noise
        total *= np.where(dow >= 5, 0.7, 1.0)
        live = []
        for name, share, s, end in camps:
            e = n_days - 1 if end is None else end
            idx = add(ch, name, parent=parents.get(ch, -1), start=s, end=e)
            live.append((idx, share, s, e))
        shares = np.zeros((len(live), n_days))
        for k, (idx, share, s, e) in enumerate(live):
            shares[k, s:e + 1] = share * rng.lognormal(0.0, 0.1, size=e - s + 1)
        shares /= np.maximum(shares.sum(axis=0, keepdims=True), 1e-12)
        for k, (idx, *_rest) in enumerate(live):
            spend_rows[idx] = np.round(total * shares[k], 2)

    # Email: flat tooling spend on the parent program; newsletters + a nurture track carry the clicks.
    rng = streams.rng("spend", "email")
    spend_rows[parents["email"]] = np.round(params.ref_spend["email"] * scale * rng.lognormal(0, 0.05, n_days), 2)
    newsletters = []
    for m in range(month.max() + 1):
        days_m = np.flatnonzero(month == m)
        newsletters.append(add("email", f"Newsletter {date_of(days_m[0]):%Y-%m}", parent=parents["email"],
                               start=int(days_m[0]), end=int(days_m[-1])))
    nurture = add("email", "Nurture - Evaluation Track", parent=parents["email"])
    email_campaigns = (np.array(newsletters), nurture)

    events: dict[str, list[tuple[int, int, float]]] = {"webinar": [], "events": [], "direct_mail": []}
    # Webinars: monthly, third Thursday; promotion spend over the 21 days before.
    rng = streams.rng("spend", "webinar")
    topics = ["Attribution 101", "Pipeline Forecasting", "MMM for B2B", "RevOps Playbook",
              "ABM That Works", "Measuring Events", "Board-Ready Metrics", "Intent Data"]
    for m in range(month.max() + 1):
        days_m = np.flatnonzero((month == m) & (dow == 3))
        wd = int(days_m[2]) if len(days_m) > 2 else int(days_m[-1])
        total = params.ref_spend["webinar"] * scale * rng.lognormal(0.0, params.event_spend_sigma["webinar"])
        idx = add("webinar", f"Webinar {date_of(wd):%Y-%m} - {topics[m % len(topics)]}",
                  parent=parents["webinar"], start=max(0, wd - 21), end=wd)
        s = max(0, wd - 21)
        spend_rows[idx][s:wd + 1] = np.round(total / (wd + 1 - s), 2)
        ref = params.ref_spend["webinar"] * scale
        p = params.base_rate["webinar"] * hill(np.array(total / ref), params.hill_half_saturation, params.hill_shape) / hill(np.array(1.0), params.hill_half_saturation, params.hill_shape)
        events["webinar"].append((wd, idx, float(p)))
    # Trade shows / conferences: ten in the window, 2-3 days each, booth spend in the 30 days before.
    rng = streams.rng("spend", "events")
    show_days = np.linspace(40, n_days - 50, len(_TRADE_SHOWS)).astype(int) + rng.integers(-10, 10, len(_TRADE_SHOWS))
    for k, (name, d0) in enumerate(zip(_TRADE_SHOWS, show_days)):
        d0 = int(d0 - (dow[d0] - 1) % 7) if dow[d0] != 1 else int(d0)  # start on a Tuesday
        length = 2 + int(rng.random() < 0.5)
        total = params.ref_spend["events"] * scale * rng.lognormal(0.0, params.event_spend_sigma["events"])
        idx = add("events", f"{name} {date_of(d0).year}", parent=parents["events"], start=d0, end=d0 + length - 1,
                  ctype="Trade Show" if k % 3 else "Conference")
        s = max(0, d0 - 30)
        spend_rows[idx][s:d0 + length] = np.round(total / (d0 + length - s), 2)
        ref = params.ref_spend["events"] * scale
        p = params.base_rate["events"] * hill(np.array(total / ref), params.hill_half_saturation, params.hill_shape) / hill(np.array(1.0), params.hill_half_saturation, params.hill_shape)
        events["events"].append((d0, idx, float(p)))  # one attendance per person per show (first day)
    # Direct mail: six drops; spend on the drop day, delivery five days later.
    rng = streams.rng("spend", "direct_mail")
    for k, d0 in enumerate(np.linspace(60, n_days - 60, 6).astype(int)):
        total = params.ref_spend["direct_mail"] * scale * rng.lognormal(0.0, params.event_spend_sigma["direct_mail"])
        idx = add("direct_mail", f"Direct Mail Drop {k + 1} - {date_of(d0):%b %Y}", start=int(d0), end=int(d0) + 30)
        spend_rows[idx][d0] = round(total, 2)
        ref = params.ref_spend["direct_mail"] * scale
        p = params.base_rate["direct_mail"] * hill(np.array(total / ref), params.hill_half_saturation, params.hill_shape) / hill(np.array(1.0), params.hill_half_saturation, params.hill_shape)
        events["direct_mail"].append((int(d0) + 5, idx, float(min(p, 0.9))))
    # TV: a national flight in bursts, weekdays heavier; no per-person touch at all.
    rng = streams.rng("spend", "tv")
    tv_idx = add("tv", "National TV - Brand Flight", start=day_of(date.fromisoformat(params.tv_flights[0][0])),
                 end=day_of(date.fromisoformat(params.tv_flights[-1][0])) + params.tv_flights[-1][1] - 1)
    for d_start, length in params.tv_flights:
        s = day_of(date.fromisoformat(d_start))
        spend_rows[tv_idx][s:s + length] = np.round(
            params.ref_spend["tv"] * scale * rng.lognormal(0.0, params.event_spend_sigma["tv"], length) * np.where(dow[s:s + length] >= 5, 0.6, 1.0), 2)

    spend = np.vstack(spend_rows)
    for c in campaigns:
        c.actual = float(round(spend[c.idx].sum(), 2))
    brng = streams.rng("campaign_budget")
    for c in campaigns:
        c.budgeted = float(round(c.actual * brng.uniform(0.9, 1.15) / 100.0) * 100.0) if c.actual > 0 else 0.0
    for ch, pidx in parents.items():  # a parent's budget is the sum of its children's
        kids = [k for k in campaigns if k.parent == pidx]
        campaigns[pidx].budgeted = float(round(sum(k.budgeted for k in kids) + campaigns[pidx].actual, -2))

    by_channel = {ch: np.zeros(n_days) for ch in CHANNELS}
    for c in campaigns:
        by_channel[c.channel] += spend[c.idx]

    norm = hill(np.array(1.0), params.hill_half_saturation, params.hill_shape)
    rates: dict[str, np.ndarray] = {}
    for ch in PAID_RATE_CHANNELS:
        ref = params.ref_spend[ch] * scale
        x = adstock(by_channel[ch], params.adstock_decay[ch]) / ref
        rates[ch] = params.base_rate[ch] * season * weekday * hill(x, params.hill_half_saturation, params.hill_shape) / norm
    for ch in ("organic_search", "organic_social", "direct", "referral", "email"):
        rates[ch] = params.base_rate[ch] * season * weekday
    rates["sales_outreach"] = params.base_rate["sales_outreach"] * np.where(dow >= 5, 0.03, 1.0)
    rates_no_tv = dict(rates)
    tv_x = adstock(by_channel["tv"], params.adstock_decay["tv"]) / (params.ref_spend["tv"] * scale)
    lift = 1.0 + params.tv_lift_max * hill(tv_x, params.hill_half_saturation, params.hill_shape) / norm
    for ch in TV_LIFTED:
        rates[ch] = rates_no_tv[ch] * lift

    campaign_cum = {}
    for ch in _ALWAYS_ON:
        kids = [c for c in campaigns if c.channel == ch and c.idx not in parents.values()]
        idxs = np.array([c.idx for c in kids])
        sp = spend[idxs]
        live = np.zeros_like(sp)
        for k, c in enumerate(kids):
            live[k, c.start_day:c.end_day + 1] = 1.0
        # On dark days (zero spend) touches still ride on the adstock; credit the live campaigns.
        share = np.where(sp.sum(axis=0, keepdims=True) > 0, sp, live)
        share = share / np.maximum(share.sum(axis=0, keepdims=True), 1e-12)
        campaign_cum[ch] = (idxs, np.cumsum(share, axis=0))
    return MarketingPlan(campaigns, spend, rates, rates_no_tv, campaign_cum, events, email_campaigns,
                         month, season, weekday)
