"""`generate(out_dir, size, seed)`: write the demo company's source files and its ground truth.

Why this module only orchestrates: the company is decided in marketing.py/population.py, lived
in simulation.py (pure, re-run per counterfactual), measured in truth.py, and written by the
*_files.py writers. Only the baseline run touches the disk.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from revline.demo.naming import company_names, person_names, sfids
from revline.demo.params import CHANNELS, SIZES, Params, params_for
from revline.demo.population import ROLES, TITLES
from revline.demo.salesforce_files import _dt, write_salesforce, write_spend, write_targets
from revline.demo.segment_files import write_segment
from revline.demo.simulation import (
    CALL, CONTENT, EVENT, EXPANSION, FORM, MAIL, MEETING, NB, PAGE, PARTNER, RENEWAL, REVENUE_TYPES, TASK_EMAIL,
    WEBINAR, Draws, SimResult, simulate,
)
from revline.demo.lift_tests import write_lift_tests
from revline.demo.naming import INDUSTRIES
from revline.demo.marketing import date_of
from revline.demo.truth import counterfactual_truth, summarize

Progress = Callable[[str, int, int], None]
GROUND_TRUTH_DOC = Path(__file__).with_name("GROUND_TRUTH.md")
INTENT_FILE = "account_intent.json"  # truth, not a source file: a plain .json, which ingest never walks into


def write_intent(path: Path, base, account_ids, n_days: int) -> None:
    """The latent buying intent of every account, week by week (mean of the daily sum of its
    people's intent; see GROUND_TRUTH.md): what an in-market score tries to see. Its own file
    because it is accounts x weeks numbers (2,000 x 105 for the small demo), rounded to 0.01."""
    from revline.demo.truth import week_starts

    intent = np.round(base.a_intent_week.astype(np.float64), 2)
    doc = {"description": "mean daily account intent (sum of its people's decayed touch effects) per week; "
                          "rows follow account_id, columns week_start (Mondays)",
           "week_start": week_starts(n_days), "account_id": [str(a) for a in account_ids],
           "intent": [[float(v) for v in row] for row in intent]}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.write("\n")


def renewal_truth(r: SimResult, company: dict) -> list[dict]:
    """Every renewal opportunity with the probability it was drawn with (`p_true`, from
    `renew_prob` on `intent`, the account intent averaged over the 90 days before its creation):
    what a churn model's probabilities and per-quarter renewals are checked against."""
    order, ids = company["opps"]["order"], company["opps"]["id"]
    acc_ids = company["accounts"]["id"]
    out = []
    for j, i in enumerate(order.tolist()):
        if r.o_type[i] != RENEWAL:
            continue
        out.append({"opportunity_id": str(ids[j]), "account_id": str(acc_ids[r.o_account[i]]),
                    "created": date_of(r.o_created[i]).isoformat(), "due": date_of(r.o_close[i]).isoformat(),
                    "closed": bool(r.o_closed[i]), "won": bool(r.o_won[i] and r.o_closed[i]),
                    "p_true": round(float(r.o_p_true[i]), 6), "intent": round(float(r.o_intent[i]), 4),
                    "amount_usd": round(float(r.o_amount_usd[i]), 2)})
    return out


def _company(params: Params, draws: Draws, r: SimResult) -> dict:
    """Names, ids and CRM life of every account and person, derived from the baseline run."""
    pop, plan, streams = draws.pop, draws.plan, draws.streams
    D = params.n_days
    NEVER = D
    names, domains = company_names(streams, pop.n_acc)
    rng = streams.rng("account_fields")
    industry = np.array(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), pop.n_acc)]
    annual_revenue = np.round(pop.employees * rng.lognormal(np.log(180_000), 0.35, pop.n_acc), -3)
    created_day = np.where(pop.existing, rng.integers(-900, -60, pop.n_acc), rng.integers(-600, -1, pop.n_acc))
    created_sec = rng.integers(8 * 3600, 18 * 3600, pop.n_acc)
    acc_ids = sfids("Account", np.arange(1, pop.n_acc + 1))

    # opportunities, ordered by creation
    order = np.lexsort((r.o_type, r.o_account, r.o_created))
    n_o = len(order)
    opp_ids = sfids("Opportunity", np.arange(1, n_o + 1))
    osec = streams.rng("opportunity_time").integers(8 * 3600, 19 * 3600, n_o)
    typ = r.o_type[order]
    acc_names = np.array(names, dtype=object)
    close_year = (np.datetime64("2024-10-01", "D") + r.o_close[order].astype("timedelta64[D]")).astype("datetime64[Y]").astype(int) + 1970
    opp_name = [f"{acc_names[a]} - " + ("New Business" if t == NB else f"Renewal {y}" if t == RENEWAL else "Upsell")
                for a, t, y in zip(r.o_account[order], typ, close_year)]
    nb_id = np.full(pop.n_acc, "", dtype=object)
    nb_created = np.full(pop.n_acc, NEVER + 10_000)
    nb_close = np.full(pop.n_acc, NEVER + 10_000)
    for j in np.flatnonzero(typ == NB).tolist():
        a = int(r.o_account[order[j]])
        nb_id[a], nb_created[a], nb_close[a] = opp_ids[j], r.o_created[order[j]], r.o_close[order[j]]
    churned = np.zeros(pop.n_acc, bool)
    ren_lost = (r.o_type == RENEWAL) & r.o_closed & ~r.o_won
    churned[r.o_account[ren_lost]] = True
    won_nb = np.zeros(pop.n_acc, bool)
    won_nb[r.o_account[(r.o_type == NB) & r.o_won]] = True

    # people
    n = pop.n_people
    pacc = pop.person_acc
    existing_p = pop.existing[pacc]
    domain_of_person = [domains[a] for a in pacc]
    first, last, email = person_names(streams, n, domain_of_person, params.freemail_share)
    is_lead = r.lead_day < NEVER
    opp_day_p = r.opp_day[pacc]
    converted = is_lead & (opp_day_p < NEVER) & (r.lead_day <= opp_day_p)
    is_contact = existing_p | converted
    lead_n = np.where(is_lead, np.cumsum(is_lead), 0)
    contact_n = np.where(is_contact, np.cumsum(is_contact), 0)
    prng = streams.rng("people_fields")
    contact_day = np.where(existing_p, prng.integers(-800, -30, n), np.where(converted, opp_day_p, NEVER))
    contact_sec = prng.integers(8 * 3600, 18 * 3600, n)
    anon_bits = prng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    anon = [f"{a & 0xFFFFFFFF:08x}-{(a >> 32) & 0xFFFF:04x}-4{(a >> 48) & 0xFFF:03x}-{8 | (b & 0x3):x}{(b >> 2) & 0xFFF:03x}-{(b >> 14) & 0xFFFFFFFFFFFF:012x}"
            for a, b in anon_bits.tolist()]
    drng = streams.rng("devices")
    second = drng.random(n) < 0.25
    anon_bits2 = drng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    anon2 = [(f"{a & 0xFFFFFFFF:08x}-{(a >> 32) & 0xFFFF:04x}-4{(a >> 48) & 0xFFF:03x}-{8 | (b & 0x3):x}{(b >> 2) & 0xFFF:03x}-{(b >> 14) & 0xFFFFFFFFFFFF:012x}"
              if two else "") for (a, b), two in zip(anon_bits2.tolist(), second.tolist())]
    group_call = (prng.random(n) < 0.45) & np.array([not e.endswith(("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")) for e in email])
    known_ts = np.where(existing_p, -10**9, np.where(is_lead, r.lead_day * 86400 + r.lead_sec, 10**12))
    prim = r.primary_person
    conv_opp = np.full(n, "", dtype=object)
    has_prim = prim >= 0
    conv_opp[prim[has_prim]] = nb_id[np.flatnonzero(has_prim)]
    conv_opp[~converted] = ""
    people = {
        "account": pacc, "first_name": np.array(first, dtype=object), "last_name": np.array(last, dtype=object),
        "email": np.array(email, dtype=object), "title": np.array([t[0] for t in TITLES], dtype=object)[pop.title_idx],
        "lead_n": lead_n, "contact_n": contact_n,
        "lead_id": np.where(is_lead, sfids("Lead", np.maximum(lead_n, 1)), ""),
        "contact_id": np.where(is_contact, sfids("Contact", np.maximum(contact_n, 1)), ""),
        "converted": converted, "convert_day": np.where(converted, opp_day_p, NEVER + 10_000),
        "converted_opp_id": conv_opp, "contact_day": contact_day, "contact_sec": contact_sec,
        "anonymous_id": anon, "anonymous_id_2": np.array(anon2, dtype=object), "user_id": [f"usr_{i + 1:07d}" for i in range(n)], "known_ts": known_ts,
        "group_call": group_call,
    }

    # contact roles: new business -> converted contacts; renewals/expansions -> the account's contacts
    roles: dict[str, list] = {"opp": [], "contact": [], "role": [], "primary": [], "created": []}
    created_str = _dt(r.o_created[order], osec)
    for j in range(n_o):
        a = int(r.o_account[order[j]])
        members = np.arange(pop.acc_first[a], pop.acc_first[a] + pop.acc_size[a])
        members = members[is_contact[members] & (contact_day[members] <= max(int(r.o_created[order[j]]), contact_day[members].min()))]
        if len(members) == 0:
            continue
        p_primary = prim[a] if prim[a] >= 0 and prim[a] in members else members[0]
        for m in members:
            roles["opp"].append(opp_ids[j])
            roles["contact"].append(people["contact_id"][m])
            roles["role"].append(ROLES[0] if m == p_primary else ROLES[1 + int(pop.person_rank[m]) % (len(ROLES) - 1)])
            roles["primary"].append(m == p_primary)
            roles["created"].append(created_str[j])
    return {
        "accounts": {"id": acc_ids, "name": acc_names, "domain": np.array(domains, dtype=object), "industry": industry,
                     "employees": pop.employees, "annual_revenue": annual_revenue.astype(np.int64),
                     "created_day": created_day, "created_sec": created_sec, "churned": churned,
                     "is_customer_end": (pop.existing | won_nb) & ~churned},
        "people": people,
        "campaigns": {"id": sfids("Campaign", np.arange(1, len(plan.campaigns) + 1)),
                      "name": np.array([c.name for c in plan.campaigns], dtype=object)},
        "opps": {"order": order, "id": opp_ids, "name": opp_name, "sec": osec},
        "roles": roles,
        "nb_open": {"id": nb_id, "created": nb_created, "close": nb_close},
    }


def generate(out_dir: Path, size: str = "small", seed: int = 42, progress: Progress | None = None,
             config: str = "default") -> dict:
    """Write the demo company under out_dir and return a manifest (paths, row counts, timings).

    `config` names a variant of the company's parameters (`params.CONFIGS`; "default" is the demo).
    `progress(description, done, total)` is called as work advances (e.g. to drive a Rich bar).
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = params_for(size, seed, config)
    say = progress or (lambda *_: None)
    say("simulating the company", 0, 4)
    draws = Draws(params, cache=params.n_accounts <= SIZES["medium"])
    base = simulate(params, draws)
    company = _company(params, draws, base)
    t_sim = time.perf_counter()
    bad_rows: list[dict] = []
    say("writing Salesforce exports", 1, 4)
    sf = write_salesforce(out_dir, params, draws.pop, draws.plan, base, company, bad_rows)
    say("writing Segment events", 2, 4)
    seg = write_segment(out_dir, base, company["people"], company["accounts"], company["campaigns"],
                        params.n_days, seed, bad_rows, progress=progress)
    spend = write_spend(out_dir, params, draws.plan, company["campaigns"]["id"], draws.streams, bad_rows)
    targets = write_targets(out_dir, params, draws.pop, base, draws.streams)
    t_write = time.perf_counter()
    say("counterfactual runs", 3, 4)
    channels, weekly = counterfactual_truth(params, draws, base, progress=progress)
    t_cf = time.perf_counter()
    # the experiments measured the counterfactual truth (plus noise): written once it is known
    lifts, lift_records = write_lift_tests(out_dir, {"weekly": weekly, "channels": channels}, draws.streams)

    files = {**sf["files"], **seg["files"], **spend["files"], **targets["files"], **lifts}
    bad_by_file: dict[str, int] = {}
    for b in bad_rows:
        bad_by_file[b["file"]] = bad_by_file.get(b["file"], 0) + 1
    summary = summarize(base, params.n_days)
    records = base.records_by_channel()
    by_type = {t: int((base.o_type == i).sum()) for i, t in enumerate(REVENUE_TYPES)}
    kinds = base.t_kind
    truth: dict[str, Any] = {
        "seed": seed, "size": size, "config": config,
        "period": {"start": params.start, "end": params.end},
        "parameters": params.to_json(),
        "counts": {
            "accounts": params.n_accounts, "people": int(draws.pop.n_people),
            "existing_customers": int(draws.pop.existing.sum()),
            "leads": sf["leads"], "contacts": sf["contacts"],
            "identified_people": int(((company["people"]["lead_n"] > 0) | (company["people"]["contact_n"] > 0)).sum()),
            "people_with_two_devices": int((company["people"]["anonymous_id_2"] != "").sum()),
            "mqls": int((base.mql_day < params.n_days).sum()), "sqls": int((base.sql_day < params.n_days).sum()),
            "touches": int(len(base.t_person)), "touches_by_channel": base.touches_by_channel(),
            "touchpoints": int(sum(records.values())), "touchpoints_by_channel": records,
            "touchpoints_by_source": {
                "segment": int(np.isin(kinds, [PAGE, FORM, CONTENT, WEBINAR]).sum()),
                "campaign_member": sf["campaign_members"], "task": sf["tasks"], "event": sf["events"],
            },
            "touches_by_kind": {k: int((kinds == i).sum()) for i, k in enumerate(
                ("page", "form_fill", "content_download", "webinar", "event", "direct_mail", "partner_referral",
                 "call", "sales_email", "meeting"))},
            "segment_events_by_type": seg["counts"],
            "opportunities": int(len(base.o_type)), "opportunities_by_type": by_type,
            "opportunities_won": {t: int(((base.o_type == i) & base.o_won).sum()) for i, t in enumerate(REVENUE_TYPES)},
            "opportunities_open": int((~base.o_closed).sum()),
            "opportunity_history": sf["opportunity_history"], "opportunity_contact_roles": sf["opportunity_contact_roles"],
            "campaigns": len(draws.plan.campaigns), "spend_rows": spend["rows"],
            "files": {rel: {"rows": n, "bad_rows": bad_by_file.get(rel, 0), "good_rows": n - bad_by_file.get(rel, 0)}
                      for rel, n in sorted(files.items())},
        },
        "bad_rows": bad_rows,
        "totals": {
            "pipeline": {t: round(v, 2) for t, v in summary["pipeline"].items()},
            "revenue": {t: round(v, 2) for t, v in summary["revenue"].items()},
            "spend": {ch: v["spend"] for ch, v in channels.items() if v["spend"] > 0},
            "fx_to_usd": params.fx_to_usd,
        },
        "channels": channels,
        "weekly": weekly,
        "lift_tests": lift_records,
        "renewals": renewal_truth(base, company),
    }
    with open(out_dir / "ground_truth.json", "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=1, sort_keys=False)
        fh.write("\n")
    write_intent(out_dir / INTENT_FILE, base, company["accounts"]["id"], params.n_days)
    shutil.copyfile(GROUND_TRUTH_DOC, out_dir / "GROUND_TRUTH.md")
    say("done", 4, 4)
    t_end = time.perf_counter()
    return {
        "out_dir": str(out_dir), "size": size, "seed": seed,
        "files": {rel: str(out_dir / rel) for rel in sorted(files)} | {
            "ground_truth.json": str(out_dir / "ground_truth.json"), "GROUND_TRUTH.md": str(out_dir / "GROUND_TRUTH.md"),
            INTENT_FILE: str(out_dir / INTENT_FILE)},
        "rows": dict(sorted(files.items())),
        "counts": {k: truth["counts"][k] for k in ("accounts", "people", "leads", "contacts", "touchpoints", "opportunities")},
        "bad_rows": len(bad_rows),
        "timings": {"simulate": round(t_sim - t0, 2), "write": round(t_write - t_sim, 2),
                    "counterfactuals": round(t_cf - t_write, 2), "total": round(t_end - t0, 2)},
    }


__all__ = ["generate", "simulate", "Params", "params_for", "CHANNELS", "EXPANSION", "CALL", "EVENT", "MAIL",
           "MEETING", "PARTNER", "TASK_EMAIL"]
