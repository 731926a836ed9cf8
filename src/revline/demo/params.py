"""The generative parameters of the demo company, in one place.

Why a frozen dataclass of plain numbers: the ground truth publishes every parameter verbatim
(`ground_truth.json["parameters"]`), so whatever drives the simulation must be serialisable and
must not hide in code paths. Changing a number here changes the company and its truth together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

START = date(2024, 10, 1)
END = date(2026, 9, 30)
N_DAYS = (END - START).days + 1  # 730

# Order matters only for stream keys and output order; never reorder (it would change the data).
CHANNELS: tuple[str, ...] = (
    "paid_search", "paid_social", "display", "organic_search", "organic_social", "email",
    "content", "webinar", "events", "direct_mail", "partner", "sales_outreach", "direct",
    "referral", "tv",
)
WEB_CHANNELS = ("paid_search", "paid_social", "display", "organic_search", "organic_social",
                "direct", "referral")  # anonymous-capable page views
PAID_RATE_CHANNELS = ("paid_search", "paid_social", "display", "content", "partner")
EVENT_CHANNELS = ("webinar", "events", "direct_mail")  # one potential touch per (person, event)
KNOWN_GATED = ("email", "webinar", "events", "direct_mail")  # need a lead/contact record
PAID_CHANNELS = ("paid_search", "paid_social", "display", "content", "events", "webinar",
                 "direct_mail", "partner", "tv", "email")  # channels with spend rows
TV_LIFTED = ("direct", "organic_search")

SIZES: dict[str, int] = {"tiny": 300, "small": 2_000, "medium": 10_000, "large": 90_000}
BLOCK_ACCOUNTS = 5_000  # accounts per random-stream block (fixed: keeps draws chunk-independent)
SPEND_REF_ACCOUNTS = 2_000  # spend figures below are for this many accounts and scale linearly

FX_TO_USD = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}


@dataclass(frozen=True)
class Params:
    """Every number the simulator draws from; see GROUND_TRUTH.md for the meaning of each."""

    n_accounts: int
    seed: int
    n_days: int = N_DAYS
    start: str = START.isoformat()
    end: str = END.isoformat()
    existing_customer_share: float = 0.08
    committee_size_probs: tuple[float, ...] = (0.18, 0.24, 0.22, 0.16, 0.12, 0.08)  # 1..6 people
    freemail_share: float = 0.07
    # Intent: every touch adds effect[channel] to a person's intent, which decays geometrically.
    intent_half_life_days: float = 30.0
    effect: dict[str, float] = field(default_factory=lambda: {
        "paid_search": 1.0, "paid_social": 0.6, "display": 0.3, "organic_search": 0.8,
        "organic_social": 0.4, "email": 0.5, "content": 1.2, "webinar": 1.6, "events": 2.2,
        "direct_mail": 0.8, "partner": 2.5, "sales_outreach": 1.3, "direct": 0.7,
        "referral": 0.9, "tv": 0.0,
    })
    # Potential-touch rates per person-day at the reference spend (before propensity,
    # seasonality, weekday and saturation); event channels give a per-event probability.
    base_rate: dict[str, float] = field(default_factory=lambda: {
        "paid_search": 0.0045, "paid_social": 0.0035, "display": 0.004, "organic_search": 0.004,
        "organic_social": 0.0015, "direct": 0.0035, "referral": 0.0012, "content": 0.0005,
        "partner": 0.00025, "email": 0.012, "sales_outreach": 0.07,
        "webinar": 0.06, "events": 0.05, "direct_mail": 0.35,
    })
    # Spend -> touches: Hill saturation of adstocked spend relative to the reference level.
    hill_half_saturation: float = 1.0  # in units of the channel's reference daily spend
    hill_shape: float = 1.3
    adstock_decay: dict[str, float] = field(default_factory=lambda: {
        "paid_search": 0.3, "paid_social": 0.5, "display": 0.6, "content": 0.5, "partner": 0.7,
        "tv": 0.9,
    })
    # Reference daily spend (USD) per channel at SPEND_REF_ACCOUNTS accounts; event channels are
    # per event (webinar, trade show, mail drop), tv is per flight day.
    ref_spend: dict[str, float] = field(default_factory=lambda: {
        "paid_search": 1800.0, "paid_social": 1200.0, "display": 700.0, "content": 450.0,
        "partner": 350.0, "email": 120.0, "webinar": 6000.0, "events": 45000.0,
        "direct_mail": 18000.0, "tv": 30000.0,
    })
    # TV: no per-person touch; it multiplies direct and organic_search visit rates by
    # 1 + tv_lift_max * hill(adstock(tv spend) / ref).
    tv_lift_max: float = 0.9
    tv_flights: tuple[tuple[str, int], ...] = (("2025-02-03", 28), ("2025-05-05", 21),
                                               ("2025-10-06", 35), ("2026-03-02", 28))
    # Calendar of demand and of spend (marketing.py): seasonality, dips, weekdays, budget moves.
    season_amplitude: float = 0.15  # demand = 1 + a * sin(2 pi (day_of_year - 60) / 365.25)
    holiday_factor: float = 0.55  # Dec 20 .. Jan 3
    august_factor: float = 0.8
    weekend_factor: tuple[float, float] = (0.35, 0.3)  # Saturday, Sunday visit rates
    budget_level_sigma: float = 0.3  # quarterly lognormal budget level per always-on channel
    daily_spend_noise_sigma: float = 0.12
    dark_week_prob: dict[str, float] = field(default_factory=lambda: {
        "paid_search": 0.04, "paid_social": 0.15, "display": 0.22, "content": 0.2, "partner": 0.1,
    })
    event_spend_sigma: dict[str, float] = field(default_factory=lambda: {
        "webinar": 0.45, "events": 0.4, "direct_mail": 0.35, "tv": 0.15,
    })
    sales_window_days: int = 120  # sales outreach runs this long after MQL
    # Funnel hazards per day: fit * (base + slope * intent); lead fires only on identifying touch days.
    hazard_lead: tuple[float, float] = (0.0, 0.003)
    hazard_mql: tuple[float, float] = (0.0002, 0.0012)
    hazard_sql: tuple[float, float] = (0.0004, 0.0012)
    hazard_opp: tuple[float, float] = (0.0008, 0.0008)  # account level, intent summed over people
    hazard_expansion: tuple[float, float] = (0.0004, 0.0012)  # customers, account intent
    win_prob: tuple[float, float, float] = (0.12, 0.38, 6.0)  # min, extra, intent scale (mean over cycle)
    renew_prob: tuple[float, float, float] = (0.78, 0.18, 3.0)  # min, extra, scale (90d before)
    expansion_win_prob: tuple[float, float, float] = (0.35, 0.35, 3.0)
    cycle_days_median: float = 65.0
    cycle_days_sigma: float = 0.45
    renewal_lead_days: int = 60  # renewal opportunity created this long before the anniversary
    acv_base_usd: float = 18000.0  # at 200 employees
    acv_employee_elasticity: float = 0.45
    acv_sigma: float = 0.35
    expansion_share: tuple[float, float] = (0.15, 0.6)
    renewal_uplift: tuple[float, float] = (0.0, 0.08)
    fx_to_usd: dict[str, float] = field(default_factory=lambda: dict(FX_TO_USD))

    @property
    def decay(self) -> float:
        return 0.5 ** (1.0 / self.intent_half_life_days)

    @property
    def spend_scale(self) -> float:
        return self.n_accounts / SPEND_REF_ACCOUNTS

    def to_json(self) -> dict:
        d = asdict(self)
        d["intent_daily_decay"] = self.decay
        d["channels"] = list(CHANNELS)
        d["notes"] = {
            "hazard_*": "[base, slope]: daily hazard = account_fit * (base + slope * intent)",
            "win_prob": "[min, extra, scale]: p = min + extra * (1 - exp(-mean_account_intent / scale))",
            "renew_prob": "[min, extra, scale]: same form, account intent averaged over 90 days before the renewal opportunity",
            "expansion_win_prob": "[min, extra, scale]: same form, account intent at expansion creation",
        }
        return d


# Named variants of the company, each a set of parameter overrides. "default" is the demo everyone
# sees; the others exist so a model can be checked against the truth on more than one company
# (`generate(..., config="strong_tv")`): "strong_tv" multiplies the TV flight's lift on direct and organic search
# visits by ~4.4 (tv_lift_max 0.9 -> 4.0), everything else equal. "long_cycle" is a second company
# for the forward-looking models (forecast, retention, scoring): an enterprise-style sales cycle
# (median 120 days, wider spread), lower win and renewal rates, a stronger season and twice the
# share of existing customers, so a model tuned on the default company shows it.
CONFIGS: dict[str, dict] = {
    "default": {},
    "strong_tv": {"tv_lift_max": 4.0},
    "long_cycle": {
        "cycle_days_median": 120.0, "cycle_days_sigma": 0.6,
        "win_prob": (0.08, 0.30, 6.0), "renew_prob": (0.68, 0.22, 3.0),
        "season_amplitude": 0.35, "existing_customer_share": 0.16,
        "hazard_opp": (0.0006, 0.0010), "renewal_lead_days": 90,
    },
}


def params_for(size: str, seed: int, config: str = "default") -> Params:
    """The parameters of one named size (only the number of accounts differs between sizes) and
    one named configuration (`CONFIGS`)."""
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}")
    if config not in CONFIGS:
        raise ValueError(f"unknown demo configuration {config!r}; choose one of {', '.join(CONFIGS)}")
    return Params(n_accounts=SIZES[size], seed=seed, **CONFIGS[config])
