"""Conversions and the touches eligible for them, as portable Ibis expressions.

Why a separate module: every rule model (and any other model wanting the same journeys) first
needs "which conversion, at what time, worth how much, and which touches may claim it". Doing
that once keeps the scope, lookback and currency rules identical across models.

Conventions (documented for users in the CLI help and the architecture doc):

* Milestone times come from the `milestones` table (journeys) unioned with `stage_events`
  (raw CRM stage history); the earliest occurrence counts, so duplicates are harmless.
* `opportunity` conversions are every opportunity at `created_at`; `won` conversions are won
  opportunities at `closed_at` (a won opportunity without `closed_at` has no eligible touch and
  is reported unattributed, never dropped). Their LC anchor is the earliest `lead` milestone of
  the people in scope; OC = `created_at`; CW = `closed_at`.
* `lead`/`mql`/`sql` conversions are people (scope person/contact_roles) or accounts (scope
  account; a person without an account stays a person conversion so it is not lost).
* Amounts are converted to USD by revline.store.fx (the one conversion rule): at the close date's
  rate for `won`, the creation date's for `opportunity`; dated rates from `fx_rates`, the fixed
  defaults `revline.vocabulary.USD_RATES` where none covers the date (attribution shares do not
  depend on rates, only cross-currency sums do). A null amount counts as 0. `weighted=True` multiplies by `probability` (won = 1, closed lost = 0 when
  probability is missing).
* A touch is eligible when it belongs to the conversion's scope and
  `converted_at - lookback <= occurred_at <= converted_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from revline.store.fx import usd_ibis
from revline.store.portable import reads
from revline.vocabulary import MILESTONES, OPPORTUNITY_MILESTONES

Scope = Literal["account", "contact_roles", "person"]
SCOPES: tuple[str, ...] = ("account", "contact_roles", "person")


@dataclass(frozen=True)
class Target:
    """What a model attributes: the conversions at `milestone` (of `revenue_type`; None or 'all':
    every type), the touches that may claim them (`scope`, `lookback_days`) and whether pipeline is
    weighted by probability. The group every model, the runner and the path export pass along,
    checked once here: it arrives as plain text from the CLI, the API and model configs.
    """

    milestone: str = "won"
    revenue_type: str | None = None
    scope: Scope = "account"
    lookback_days: float | None = None
    weighted: bool = False

    def __post_init__(self) -> None:
        if self.milestone not in MILESTONES:
            raise ValueError(f"unknown milestone {self.milestone!r}; expected one of {', '.join(MILESTONES)}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; expected one of {', '.join(SCOPES)}")
        if self.lookback_days is not None and self.lookback_days < 0:
            raise ValueError(f"lookback_days must be >= 0, got {self.lookback_days}")

    def params(self) -> dict[str, Any]:
        """The eligibility part of a run's recorded parameters (attribution_runs.params)."""
        return {"scope": self.scope, "lookback_days": self.lookback_days, "weighted": self.weighted}

CONVERSION_COLUMNS = [
    "conversion_id", "conversion_type", "account_id", "converted_at", "window_start",
    "amount_usd", "revenue_type", "lc_at", "oc_at", "cw_at",
]


def _table(be: Any, name: str) -> ir.Table:
    return be.table(name)


@reads("people", "milestones", "stage_events")
def milestone_events(be: Any) -> ir.Table:
    """(person_id, account_id, milestone, occurred_at) from `milestones` ∪ `stage_events`."""
    people = _table(be, "people").select(p_person="person_id", p_account="account_id")
    m = _table(be, "milestones")
    m = m.filter(m.object_type.isin(["person", "account"]))
    m = m.mutate(
        _person=ibis.coalesce(m.person_id, ibis.cases((m.object_type == "person", m.object_id), else_=None))
    )
    m = m.left_join(people, m._person == people.p_person)
    from_milestones = m.select(
        person_id=m._person,
        account_id=ibis.coalesce(
            m.account_id, ibis.cases((m.object_type == "account", m.object_id), else_=None), m.p_account
        ),
        milestone=m.milestone,
        occurred_at=m.occurred_at.cast("timestamp"),
    )
    s = _table(be, "stage_events")
    s = s.filter(s.object_type.isin(["person", "account"]))
    # one equality as the join key: DuckDB ran `type = 'person' AND id = person` in a left join as a
    # nested loop (people x stage events: 18 of 30 CPU s at 1.3M touchpoints, growing as n^2)
    s = s.mutate(_person=ibis.cases((s.object_type == "person", s.object_id), else_=None))
    s = s.left_join(people, s._person == people.p_person)
    from_stages = s.select(
        person_id=s._person,
        account_id=ibis.cases((s.object_type == "account", s.object_id), else_=s.p_account),
        milestone=s.stage,
        occurred_at=s.entered_at.cast("timestamp"),
    )
    return from_milestones.union(from_stages, distinct=False)


@reads("opportunities", "opportunity_contacts", "people", "milestones", "stage_events", "fx_rates")
def opportunity_conversions(be: Any, target: Target) -> tuple[ir.Table, ir.Table]:
    """Opportunity conversions and their scope keys (conversion_id, key_kind, key)."""
    milestone, revenue_type, scope = target.milestone, target.revenue_type, target.scope
    o = _table(be, "opportunities")
    if milestone == "won":
        o = o.filter(o.is_won.fill_null(False))
    if revenue_type not in (None, "all"):
        o = o.filter(o.revenue_type == revenue_type)
    o = usd_ibis(be, o.mutate(_fx_at=o.created_at if milestone == "opportunity" else ibis.coalesce(o.closed_at, o.created_at)),
                 "amount", "currency", "_fx_at", "_amount_usd")
    amount = o._amount_usd
    if target.weighted and milestone == "opportunity":
        prob = ibis.coalesce(
            o.probability.cast("float64"),
            ibis.cases((o.is_won.fill_null(False), 1.0), (o.is_closed.fill_null(False), 0.0), else_=None),
        )
        amount = amount * prob
    converted_at = o.created_at if milestone == "opportunity" else o.closed_at
    conv = o.select(
        conversion_id=o.opportunity_id,
        account_id=o.account_id,
        converted_at=converted_at,
        amount_usd=amount,
        revenue_type=o.revenue_type,
        oc_at=o.created_at,
        cw_at=o.closed_at if milestone == "won" else ibis.null("timestamp"),
    )
    lead = milestone_events(be)
    lead = lead.filter(lead.milestone == "lead")
    if scope == "account":
        keys = conv.select("conversion_id", key_kind=ibis.literal("account"), key=conv.account_id)
        first_lead = lead.filter(lead.account_id.notnull()).group_by(k="account_id").agg(lc_at=lead.occurred_at.min())
        conv = conv.left_join(first_lead, conv.account_id == first_lead.k).drop("k")
    else:  # contact_roles, and person scope for opportunity milestones (an opportunity's people)
        oc = _table(be, "opportunity_contacts")
        keys = oc.select(conversion_id=oc.opportunity_id, key_kind=ibis.literal("person"), key=oc.person_id)
        first_lead = lead.filter(lead.person_id.notnull()).group_by(k="person_id").agg(lc_at=lead.occurred_at.min())
        role_lead = oc.join(first_lead, oc.person_id == first_lead.k).group_by(c="opportunity_id").agg(
            lc_at=first_lead.lc_at.min()
        )
        conv = conv.left_join(role_lead, conv.conversion_id == role_lead.c).drop("c")
    return _finish(conv, "opportunity", target.lookback_days), keys


@reads("people", "milestones", "stage_events")
def lead_conversions(be: Any, target: Target) -> tuple[ir.Table, ir.Table]:
    """Person or account conversions at lead/mql/sql and their scope keys."""
    milestone, scope = target.milestone, target.scope
    ev = milestone_events(be)
    if scope == "account":
        # a person with no account is kept as a person conversion rather than dropped
        ev = ev.mutate(
            conversion_id=ibis.coalesce(ev.account_id, ev.person_id),
            conversion_type=ibis.cases((ev.account_id.notnull(), "account"), else_="person"),
        )
    else:
        ev = ev.mutate(conversion_id=ev.person_id, conversion_type=ibis.literal("person"))
    ev = ev.filter(ev.conversion_id.notnull())
    hit = ev.filter(ev.milestone == milestone).group_by("conversion_id", "conversion_type").agg(
        converted_at=ev.occurred_at.min(), account_id=ev.account_id.max()
    )
    leads = ev.filter(ev.milestone == "lead").group_by(k="conversion_id", kt="conversion_type").agg(
        lc_at=ev.occurred_at.min()
    )
    conv = hit.left_join(leads, (hit.conversion_id == leads.k) & (hit.conversion_type == leads.kt)).drop("k", "kt")
    conv = conv.mutate(
        amount_usd=ibis.literal(0.0, "float64"),
        revenue_type=ibis.null("string"),
        oc_at=ibis.null("timestamp"),
        cw_at=ibis.null("timestamp"),
    )
    if milestone == "lead":
        conv = conv.mutate(lc_at=conv.converted_at)
    keys = conv.select(
        "conversion_id",
        key_kind=ibis.cases((conv.conversion_type == "account", "account"), else_="person"),
        key=conv.conversion_id,
    )
    return _finish(conv, None, target.lookback_days), keys


def _finish(conv: ir.Table, conversion_type: str | None, lookback_days: float | None) -> ir.Table:
    """Window start, LC only if not after the conversion, fixed column order."""
    if conversion_type is not None:
        conv = conv.mutate(conversion_type=ibis.literal(conversion_type))
    if lookback_days is None:
        start = ibis.null("timestamp")
    else:
        start = conv.converted_at - ibis.interval(seconds=int(round(float(lookback_days) * 86400)))
    conv = conv.mutate(
        window_start=start,
        lc_at=ibis.cases((conv.lc_at <= conv.converted_at, conv.lc_at), else_=None),
    )
    return conv.select(*CONVERSION_COLUMNS)


@reads("touchpoints", "people")
def scoped_touches(be: Any) -> ir.Table:
    """Touchpoints with the account resolved through the person when the touch lacks one.

    Only the touches without an account go through the people join: stitched stores have
    the account on most touches, and probing 10M rows against people costs more than the
    union of the two halves.
    """
    t = _table(be, "touchpoints")
    types = {"touchpoint_id": "string", "occurred_at": "timestamp", "person_id": "string", "channel": "string",
             "campaign_id": "string", "touch_type": "string"}

    def shape(x: ir.Table, account: ir.Value) -> ir.Table:
        # one schema for both halves (a left join makes columns nullable)
        return x.select(**{c: x[c].cast(ty) for c, ty in types.items()}, eff_account=account.cast("string"))

    with_account = t.filter(t.account_id.notnull())
    people = _table(be, "people").select(p_person="person_id", p_account="account_id")
    bare = t.filter(t.account_id.isnull())
    bare = bare.left_join(people, bare.person_id == people.p_person)
    return shape(with_account, with_account.account_id).union(shape(bare, bare.p_account), distinct=False)


@reads("opportunities", "opportunity_contacts", "people", "milestones", "stage_events", "fx_rates")
def conversions(
    be: Any,
    target: Target | str,
    *,
    scope: str = "account",
    revenue_type: str | None = None,
    lookback_days: float | None = None,
    weighted: bool = False,
) -> tuple[ir.Table, ir.Table]:
    """Conversions of a `Target` and their scope keys; `conversions(be, "won", scope=...)`
    builds the Target from the milestone and the keywords."""
    t = target if isinstance(target, Target) else Target(
        target, revenue_type, scope, lookback_days, weighted)  # type: ignore[arg-type]  # checked by Target
    if t.milestone in OPPORTUNITY_MILESTONES:
        return opportunity_conversions(be, t)
    return lead_conversions(be, t)


@reads("touchpoints", "people")
def eligible_touches(be: Any, conv: ir.Table, keys: ir.Table) -> ir.Table:
    """Every (conversion, touch) pair where the touch may claim credit.

    Two equi-joins (account keys, person keys) unioned, instead of one OR join, so both
    DuckDB and Spark use hash joins. The (small) conversions are joined to their keys first,
    so each touch is probed once against keys that already carry the conversion's time
    window: the time filter runs inside that join, and the millions of key matches never
    need a second join to the conversions.
    """
    t = scoped_touches(be)
    ck = keys.join(conv, "conversion_id")
    conv_cols = [c for c in conv.columns if c != "conversion_id"]
    touch_cols = ["touchpoint_id", "occurred_at", "channel", "campaign_id", "touch_type"]

    def half(kind: str, on: str) -> ir.Table:
        k = ck.filter(ck.key_kind == kind)
        j = k.join(t, k.key == t[on])
        j = j.filter(
            j.converted_at.notnull()
            & (j.occurred_at <= j.converted_at)
            & (j.window_start.isnull() | (j.occurred_at >= j.window_start))
        )
        return j.select("conversion_id", *touch_cols, *conv_cols)

    return half("account", "eff_account").union(half("person", "person_id"), distinct=False)
