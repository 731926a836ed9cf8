"""Who exists in the demo market: accounts, their buying committees, and each entity's dice.

Why all per-entity random decisions are drawn here, up front: the counterfactual runs must
see the very same dice (common random numbers). A person's exponential "clock" for becoming
an MQL, an account's win-or-lose uniform, a deal's cycle length: each is drawn once, from its
own stream, and reused by every run; a switched-off channel can only change what those dice
are compared against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revline.demo.params import Params
from revline.demo.streams import Streams

TITLES: tuple[tuple[str, float], ...] = (
    ("Chief Marketing Officer", 1.5), ("VP Marketing", 1.4), ("VP Revenue Operations", 1.4),
    ("Director of Demand Generation", 1.2), ("Head of Growth", 1.2), ("Marketing Operations Manager", 1.0),
    ("Revenue Operations Manager", 1.1), ("Sales Director", 1.0), ("Chief Financial Officer", 0.9),
    ("Marketing Analyst", 0.8), ("Demand Generation Manager", 1.0), ("Data Analyst", 0.7),
)
COUNTRIES: tuple[tuple[str, str, str, float], ...] = (  # name, ISO code, billing currency, weight
    ("United States", "US", "USD", 0.55), ("Canada", "CA", "USD", 0.06), ("United Kingdom", "GB", "GBP", 0.12),
    ("Germany", "DE", "EUR", 0.09), ("France", "FR", "EUR", 0.06), ("Netherlands", "NL", "EUR", 0.04),
    ("Australia", "AU", "USD", 0.04), ("Sweden", "SE", "EUR", 0.02), ("Ireland", "IE", "EUR", 0.02),
)
ROLES = ("Decision Maker", "Economic Buyer", "Technical Buyer", "Evaluator", "Influencer", "Business User")


@dataclass
class Population:
    """Arrays indexed by account (n_acc) or person (n_people); people are contiguous per account."""

    n_acc: int
    n_people: int
    acc_first: np.ndarray  # first person index of each account
    acc_size: np.ndarray
    person_acc: np.ndarray
    person_rank: np.ndarray  # 0..size-1 inside the committee
    fit: np.ndarray  # account fit (hazard multiplier)
    engagement: np.ndarray  # account engagement (touch-rate multiplier)
    employees: np.ndarray
    country_idx: np.ndarray
    currency: np.ndarray  # billing currency code per account (str)
    existing: np.ndarray  # bool: customer before the window
    anniversary: np.ndarray  # day 0..364 of the contract anniversary (existing customers)
    arr_draw: np.ndarray  # USD ACV draw before currency rounding
    title_idx: np.ndarray
    seniority: np.ndarray
    propensity: np.ndarray  # person touch-rate multiplier
    # funnel dice
    e_lead: np.ndarray
    e_mql: np.ndarray
    e_sql: np.ndarray
    e_opp: np.ndarray
    e_exp: np.ndarray
    u_win: np.ndarray
    u_exp_win: np.ndarray
    u_renew: np.ndarray  # (n_acc, 2): first and second renewal in the window
    cycle: np.ndarray  # new-business cycle length, days
    exp_cycle: np.ndarray
    lost_stage: np.ndarray  # 0..1: how far a lost deal got
    exp_share: np.ndarray
    renew_uplift: np.ndarray


def build_population(params: Params, streams: Streams) -> Population:
    """Accounts, their buying committees and every per-account draw, made once per seed so that
    each counterfactual run sees the same company."""
    n_acc = params.n_accounts
    rng = streams.rng("accounts")
    probs = np.asarray(params.committee_size_probs)
    acc_size = rng.choice(np.arange(1, len(probs) + 1), size=n_acc, p=probs / probs.sum())
    employees = np.clip(np.round(rng.lognormal(np.log(250), 1.3, n_acc)), 5, 200_000).astype(np.int64)
    w = np.array([c[3] for c in COUNTRIES])
    country_idx = rng.choice(len(COUNTRIES), size=n_acc, p=w / w.sum())
    currency = np.array([c[2] for c in COUNTRIES])[country_idx]
    fit = rng.lognormal(0.0, 0.45, n_acc) * (employees / 250.0) ** 0.08
    engagement = rng.gamma(0.8, 1.0 / 0.8, n_acc)
    existing = rng.random(n_acc) < params.existing_customer_share
    anniversary = rng.integers(0, 365, n_acc)
    arr_draw = (params.acv_base_usd * (employees / 200.0) ** params.acv_employee_elasticity
                * rng.lognormal(0.0, params.acv_sigma, n_acc))
    acc_first = np.concatenate([[0], np.cumsum(acc_size)[:-1]]).astype(np.int64)
    n_people = int(acc_size.sum())
    person_acc = np.repeat(np.arange(n_acc), acc_size)
    person_rank = np.arange(n_people) - acc_first[person_acc]

    prng = streams.rng("people")
    title_idx = prng.integers(0, len(TITLES), n_people)
    seniority = np.array([t[1] for t in TITLES])[title_idx]
    propensity = engagement[person_acc] * prng.gamma(1.5, 1.0 / 1.5, n_people)

    def exp(purpose: str, n: int) -> np.ndarray:
        return streams.rng(purpose).exponential(1.0, n)

    def uni(purpose: str, n) -> np.ndarray:
        return streams.rng(purpose).random(n)

    return Population(
        n_acc=n_acc, n_people=n_people, acc_first=acc_first, acc_size=acc_size, person_acc=person_acc,
        person_rank=person_rank, fit=fit, engagement=engagement, employees=employees, country_idx=country_idx, currency=currency,
        existing=existing,
        anniversary=anniversary, arr_draw=arr_draw, title_idx=title_idx, seniority=seniority,
        propensity=propensity,
        e_lead=exp("clock_lead", n_people), e_mql=exp("clock_mql", n_people), e_sql=exp("clock_sql", n_people),
        e_opp=exp("clock_opp", n_acc), e_exp=exp("clock_expansion", n_acc),
        u_win=uni("win", n_acc), u_exp_win=uni("expansion_win", n_acc), u_renew=uni("renew", (n_acc, 2)),
        cycle=np.clip(streams.rng("cycle").lognormal(np.log(params.cycle_days_median), params.cycle_days_sigma, n_acc), 14, 270).astype(np.int64),
        exp_cycle=np.clip(streams.rng("expansion_cycle").lognormal(np.log(35), 0.4, n_acc), 7, 150).astype(np.int64),
        lost_stage=uni("lost_stage", n_acc),
        exp_share=streams.rng("expansion_share").uniform(*params.expansion_share, n_acc),
        renew_uplift=streams.rng("renewal_uplift").uniform(*params.renewal_uplift, n_acc),
    )
