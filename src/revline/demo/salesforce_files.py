"""Writing the demo's Salesforce exports (API field names), ad spend and targets as CSV.

Why CSV through pandas with explicit column lists: the readers are the same ones a user's
exports go through, so the files must look like a Data Loader export (ISO datetimes ending in
Z, dates as YYYY-MM-DD, booleans true/false, empty cells for nulls) and nothing more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from revline.demo.marketing import MarketingPlan
from revline.demo.naming import sfid, sfids
from revline.demo.params import CHANNELS, Params
from revline.demo.population import COUNTRIES, ROLES, TITLES, Population
from revline.demo.segment_files import iso
from revline.demo.simulation import CALL, EVENT, EXPANSION, MAIL, MEETING, NB, PARTNER, RENEWAL, TASK_EMAIL, WEBINAR, SimResult
from revline.vocabulary import region_of

OPEN_STAGES = {
    NB: [("Prospecting", 10), ("Qualification", 10), ("Needs Analysis", 20), ("Value Proposition", 50),
         ("Id. Decision Makers", 60), ("Proposal/Price Quote", 75), ("Negotiation/Review", 90)],
    RENEWAL: [("Qualification", 50), ("Proposal/Price Quote", 75), ("Negotiation/Review", 90)],
    EXPANSION: [("Qualification", 20), ("Needs Analysis", 40), ("Proposal/Price Quote", 75), ("Negotiation/Review", 90)],
}
TYPE_PICKLIST = {NB: "New Customer", RENEWAL: "Renewal", EXPANSION: "Existing Customer - Upgrade"}
LEAD_SOURCE = {"paid_search": "Paid Search", "paid_social": "Paid Social", "display": "Display",
               "organic_search": "Organic Search", "organic_social": "Social Media", "direct": "Web",
               "referral": "Referral", "content": "Content Syndication", "partner": "Partner Referral"}


def _date(day: npt.ArrayLike) -> np.ndarray:
    return np.datetime_as_string(np.datetime64("2024-10-01", "D") + np.asarray(day).astype("timedelta64[D]"), unit="D")


def _dt(day: npt.ArrayLike, sec: npt.ArrayLike) -> np.ndarray:
    return iso(np.asarray(day) * 86400 + np.asarray(sec))


def _blank_never(values: np.ndarray, day: np.ndarray, n_days: int) -> np.ndarray:
    return np.where(np.asarray(day) < n_days, values, "")


def _bool(x: npt.ArrayLike) -> np.ndarray:
    return np.where(np.asarray(x, dtype=bool), "true", "false")


def _insert_bad(df: pd.DataFrame, rel: str, bad: list[tuple[int, dict, str, str]], bad_rows: list[dict]) -> pd.DataFrame:
    """Insert deliberately bad rows at known 1-based data row numbers (ascending) and list them."""
    for row_number, overrides, field, reason in sorted(bad, key=lambda b: b[0]):
        k = min(row_number - 1, len(df))
        base = df.iloc[[max(k - 1, 0)]].copy() if len(df) else pd.DataFrame([{c: "" for c in df.columns}])
        for col, val in overrides.items():
            base[col] = val
        df = pd.concat([df.iloc[:k], base, df.iloc[k:]], ignore_index=True)
        bad_rows.append({"file": rel, "row_number": k + 1, "field": field, "reason": reason})
    return df


def _write(df: pd.DataFrame, out_dir: Path, rel: str, files: dict) -> None:
    path = out_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    files[rel] = len(df)


def write_salesforce(out_dir: Path, params: Params, pop: Population, plan: MarketingPlan, r: SimResult,
                     company: dict, bad_rows: list[dict]) -> dict:
    """Write every Salesforce CSV; return per-file data-row counts and entity counts."""
    D = params.n_days
    files: dict[str, int] = {}
    acc, ppl, camp = company["accounts"], company["people"], company["campaigns"]
    sf = "salesforce/"

    # Campaign
    cdf = pd.DataFrame({
        "Id": camp["id"], "Name": camp["name"], "Type": [c.type for c in plan.campaigns],
        "Status": np.where(np.array([c.end_day for c in plan.campaigns]) < D - 1, "Completed", "In Progress"),
        "ParentId": [camp["id"][c.parent] if c.parent >= 0 else "" for c in plan.campaigns],
        "StartDate": _date([c.start_day for c in plan.campaigns]), "EndDate": _date([c.end_day for c in plan.campaigns]),
        "BudgetedCost": [f"{c.budgeted:.2f}" for c in plan.campaigns], "ActualCost": [f"{c.actual:.2f}" for c in plan.campaigns],
        "IsActive": _bool([c.end_day >= D - 1 for c in plan.campaigns]),
        "CreatedDate": _dt(np.array([c.start_day for c in plan.campaigns]) - 30, np.full(len(plan.campaigns), 9 * 3600)),
    })
    _write(cdf, out_dir, sf + "Campaign.csv", files)

    # Account
    adf = pd.DataFrame({
        "Id": acc["id"], "Name": acc["name"], "Website": ["https://www." + d for d in acc["domain"]],
        "Industry": acc["industry"], "NumberOfEmployees": pop.employees, "AnnualRevenue": acc["annual_revenue"],
        "BillingCountry": [COUNTRIES[i][0] for i in pop.country_idx], "BillingCountryCode": [COUNTRIES[i][1] for i in pop.country_idx],
        "Type": np.where(acc["is_customer_end"], "Customer", np.where(acc["churned"], "Former Customer", "Prospect")),
        "CurrencyIsoCode": pop.currency, "CreatedDate": _dt(acc["created_day"], acc["created_sec"]),
    })
    adf = _insert_bad(adf, sf + "Account.csv", [(5, {"Id": "", "Name": "Unnamed Import Row"}, "Id", "missing Id")], bad_rows)
    _write(adf, out_dir, sf + "Account.csv", files)

    # Lead
    is_lead = ppl["lead_n"] > 0
    li = np.flatnonzero(is_lead)
    conv = ppl["converted"][li]
    conv_day = ppl["convert_day"][li]
    mql, sql = r.mql_day[li], r.sql_day[li]
    status = np.where(conv, "Closed - Converted", np.where(sql < D, "Working - Contacted",
                      np.where(mql < D, "Working - Contacted", "Open - Not Contacted")))
    ldf = pd.DataFrame({
        "Id": ppl["lead_id"][li], "FirstName": ppl["first_name"][li], "LastName": ppl["last_name"][li],
        "Email": ppl["email"][li], "Title": ppl["title"][li], "Company": acc["name"][ppl["account"][li]],
        "Industry": acc["industry"][ppl["account"][li]], "NumberOfEmployees": pop.employees[ppl["account"][li]],
        "Country": [COUNTRIES[i][0] for i in pop.country_idx[ppl["account"][li]]],
        "Status": status, "LeadSource": [LEAD_SOURCE.get(CHANNELS[c], "Other") if c >= 0 else "Other" for c in r.lead_channel[li]],
        "CreatedDate": _dt(r.lead_day[li], r.lead_sec[li]),
        "MQL_Date__c": _blank_never(_date(np.minimum(mql, D - 1)), np.where(~conv | (mql <= conv_day), mql, D), D),
        "SQL_Date__c": _blank_never(_date(np.minimum(sql, D - 1)), np.where(~conv | (sql <= conv_day), sql, D), D),
        "IsConverted": _bool(conv),
        "ConvertedDate": np.where(conv, _date(np.minimum(conv_day, D - 1)), ""),
        "ConvertedContactId": np.where(conv, ppl["contact_id"][li], ""),
        "ConvertedAccountId": np.where(conv, acc["id"][ppl["account"][li]], ""),
        "ConvertedOpportunityId": ppl["converted_opp_id"][li],
    })
    ldf = _insert_bad(ldf, sf + "Lead.csv", [(6, {"Id": sfid("Lead", 9_999_999_000_001), "CreatedDate": "31/02/2025 25:61",
                                                  "Email": "bad.date@example.com", "IsConverted": "false", "ConvertedDate": "",
                                                  "ConvertedContactId": "", "ConvertedAccountId": "", "ConvertedOpportunityId": ""},
                                              "CreatedDate", "unparsable date")], bad_rows)
    _write(ldf, out_dir, sf + "Lead.csv", files)

    # Contact
    ci = np.flatnonzero(ppl["contact_n"] > 0)
    cmql = r.mql_day[ci]
    csql = r.sql_day[ci]
    contact_df = pd.DataFrame({
        "Id": ppl["contact_id"][ci], "AccountId": acc["id"][ppl["account"][ci]], "FirstName": ppl["first_name"][ci],
        "LastName": ppl["last_name"][ci], "Email": ppl["email"][ci], "Title": ppl["title"][ci],
        "LeadSource": np.where(is_lead[ci], [LEAD_SOURCE.get(CHANNELS[c], "Other") if c >= 0 else "" for c in r.lead_channel[ci]], ""),
        "CreatedDate": _dt(ppl["contact_day"][ci], ppl["contact_sec"][ci]),
        "MQL_Date__c": _blank_never(_date(np.minimum(cmql, D - 1)), cmql, D),
        "SQL_Date__c": _blank_never(_date(np.minimum(csql, D - 1)), csql, D),
    })
    _write(contact_df, out_dir, sf + "Contact.csv", files)

    # Opportunity + OpportunityHistory + OpportunityContactRole
    opp = company["opps"]
    n_o = len(opp["id"])
    o_order = opp["order"]
    typ, created, close = r.o_type[o_order], r.o_created[o_order], r.o_close[o_order]
    closed, won = r.o_closed[o_order], r.o_won[o_order]
    stage_names, probs = [], []
    hist: dict[str, list] = {k: [] for k in ("OpportunityId", "StageName", "Amount", "CloseDate", "Probability", "CreatedDate")}
    for j in range(n_o):
        stages = OPEN_STAGES[int(typ[j])]
        cyc = max(int(close[j] - created[j]), 1)
        if closed[j] and won[j]:
            reached = len(stages)
        elif closed[j]:
            reached = 1 + int(r.o_stage_frac[o_order[j]] * len(stages))
        else:
            reached = 1 + int(min((D - 1 - created[j]) / cyc, 0.999) * len(stages))
        reached = min(reached, len(stages))
        amount = f"{r.o_amount[o_order[j]]:.2f}"
        close_s = str(_date([close[j]])[0])
        for i in range(reached):
            d = int(created[j] + (i * cyc) // len(stages))
            hist["OpportunityId"].append(opp["id"][j])
            hist["StageName"].append(stages[i][0])
            hist["Amount"].append(amount)
            hist["CloseDate"].append(close_s)
            hist["Probability"].append(stages[i][1])
            hist["CreatedDate"].append(str(_dt([d], [opp["sec"][j] + 60 * i])[0]))
        if closed[j]:
            final = ("Closed Won", 100) if won[j] else ("Closed Lost", 0)
            hist["OpportunityId"].append(opp["id"][j])
            hist["StageName"].append(final[0])
            hist["Amount"].append(amount)
            hist["CloseDate"].append(close_s)
            hist["Probability"].append(final[1])
            hist["CreatedDate"].append(str(_dt([close[j]], [opp["sec"][j] + 3600])[0]))
        else:
            final = stages[reached - 1]
        stage_names.append(final[0])
        probs.append(final[1])
    odf = pd.DataFrame({
        "Id": opp["id"], "AccountId": acc["id"][r.o_account[o_order]], "Name": opp["name"],
        "Type": [TYPE_PICKLIST[int(t)] for t in typ], "StageName": stage_names,
        "Amount": [f"{a:.2f}" for a in r.o_amount[o_order]], "CurrencyIsoCode": pop.currency[r.o_account[o_order]],
        "Probability": probs, "CreatedDate": _dt(created, opp["sec"]), "CloseDate": _date(close),
        "IsClosed": _bool(closed), "IsWon": _bool(won),
        "CampaignId": [camp["id"][c] if c >= 0 else "" for c in r.o_campaign[o_order]],
    })
    odf = _insert_bad(odf, sf + "Opportunity.csv", [
        (3, {"Id": sfid("Opportunity", 9_999_999_000_001), "Amount": "-25000.00"}, "Amount", "negative amount"),
        (8, {"Id": sfid("Opportunity", 9_999_999_000_002), "AccountId": sfid("Account", 9_999_999_999_999)}, "AccountId", "unknown AccountId"),
        (11, {"Id": sfid("Opportunity", 9_999_999_000_003), "CurrencyIsoCode": "XYZ"}, "CurrencyIsoCode", "unknown currency"),
        (14, {"Id": sfid("Opportunity", 9_999_999_000_004), "CloseDate": "next quarter"}, "CloseDate", "unparsable date"),
        (17, {"Id": ""}, "Id", "missing Id"),
    ], bad_rows)
    _write(odf, out_dir, sf + "Opportunity.csv", files)
    hdf = pd.DataFrame(hist)
    hdf.insert(0, "Id", sfids("OpportunityHistory", np.arange(1, len(hdf) + 1)))
    _write(hdf, out_dir, sf + "OpportunityHistory.csv", files)
    roles = company["roles"]
    rdf = pd.DataFrame({"Id": sfids("OpportunityContactRole", np.arange(1, len(roles["opp"]) + 1)),
                        "OpportunityId": roles["opp"], "ContactId": roles["contact"], "Role": roles["role"],
                        "IsPrimary": _bool(roles["primary"]), "CreatedDate": roles["created"]})
    _write(rdf, out_dir, sf + "OpportunityContactRole.csv", files)

    # CampaignMember (webinar, events, direct mail, partner)
    cm = np.flatnonzero(np.isin(r.t_kind, [WEBINAR, EVENT, MAIL, PARTNER]))
    cm = cm[np.lexsort((r.t_person[cm], r.t_sec[cm], r.t_day[cm]))]
    p = r.t_person[cm]
    kind = r.t_kind[cm]
    day = r.t_day[cm]
    responded = (kind != MAIL) | (r.t_uk[cm] < 0.15)
    status = np.where(np.isin(kind, [WEBINAR, EVENT]), "Attended", np.where(kind == PARTNER, "Responded",
                      np.where(responded, "Responded", "Sent")))
    lag = 1 + (r.t_uk[cm] * 14).astype(np.int64)
    created_day = np.where(kind == WEBINAR, day - lag, np.where(kind == MAIL, day - 5, day))
    has_lead = ppl["lead_n"][p] > 0
    lead_then = has_lead & (~ppl["converted"][p] | (created_day <= ppl["convert_day"][p]))
    cmdf = pd.DataFrame({
        "Id": sfids("CampaignMember", np.arange(1, len(cm) + 1)),
        "CampaignId": [camp["id"][c] for c in r.t_campaign[cm]],
        "LeadId": np.where(lead_then, ppl["lead_id"][p], ""),
        "ContactId": np.where(ppl["contact_n"][p] > 0, ppl["contact_id"][p], ""),
        "Status": status, "HasResponded": _bool(responded),
        "FirstRespondedDate": np.where(responded, _date(day), ""),
        "CreatedDate": _dt(np.maximum(created_day, 0), r.t_sec[cm]),
    })
    cmdf = _insert_bad(cmdf, sf + "CampaignMember.csv", [(2, {"Id": sfid("CampaignMember", 9_999_999_000_001), "CampaignId": ""},
                                                          "CampaignId", "missing CampaignId")], bad_rows)
    _write(cmdf, out_dir, sf + "CampaignMember.csv", files)

    # Task (calls, emails) and Event (meetings)
    so = np.flatnonzero(np.isin(r.t_kind, [CALL, TASK_EMAIL, MEETING]))
    so = so[np.lexsort((r.t_person[so], r.t_sec[so], r.t_day[so]))]
    p = r.t_person[so]
    day = r.t_day[so]
    a = ppl["account"][p]
    converted_then = ppl["converted"][p] & (day >= ppl["convert_day"][p]) | (ppl["lead_n"][p] == 0)
    who = np.where(converted_then, ppl["contact_id"][p], ppl["lead_id"][p])
    nb_open = company["nb_open"]  # per account: (opp id, created, close)
    in_opp = converted_then & (day >= nb_open["created"][a]) & (day <= nb_open["close"][a])
    what = np.where(in_opp, nb_open["id"][a], np.where(converted_then, acc["id"][a], ""))
    acc_col = np.where(converted_then, acc["id"][a], "")
    kind = r.t_kind[so]
    t = np.flatnonzero(kind != MEETING)
    subj_call = np.array(["Discovery call", "Follow-up call", "Left voicemail", "Qualification call"])
    subj_mail = np.array(["Intro email", "Follow-up: next steps", "Case study for you", "Checking in"])
    k4 = (r.t_uk[so] * 1000).astype(int) % 4
    tdf = pd.DataFrame({
        "Id": sfids("Task", np.arange(1, len(t) + 1)), "WhoId": who[t], "WhatId": what[t], "AccountId": acc_col[t],
        "ActivityDate": _date(day[t]), "Type": np.where(kind[t] == CALL, "Call", "Email"),
        "TaskSubtype": np.where(kind[t] == CALL, "Call", "Email"),
        "Subject": np.where(kind[t] == CALL, subj_call[k4[t]], subj_mail[k4[t]]),
        "Status": "Completed", "CreatedDate": _dt(day[t], r.t_sec[so][t]),
    })
    tdf = _insert_bad(tdf, sf + "Task.csv", [(5, {"Id": ""}, "Id", "missing Id")], bad_rows)
    _write(tdf, out_dir, sf + "Task.csv", files)
    e = np.flatnonzero(kind == MEETING)
    start = _dt(day[e], r.t_sec[so][e])
    edf = pd.DataFrame({
        "Id": sfids("Event", np.arange(1, len(e) + 1)), "WhoId": who[e], "WhatId": what[e], "AccountId": acc_col[e],
        "StartDateTime": start, "EndDateTime": _dt(day[e], r.t_sec[so][e] + 1800), "ActivityDate": _date(day[e]),
        "Type": "Meeting", "EventSubtype": "Event",
        "Subject": np.array(["Demo", "Discovery meeting", "Technical deep dive", "Pricing review"])[k4[e]],
        "DurationInMinutes": 30, "CreatedDate": _dt(np.maximum(day[e] - 3, 0), r.t_sec[so][e]),
    })
    _write(edf, out_dir, sf + "Event.csv", files)
    return {"files": files, "leads": int(len(li)), "contacts": int(len(ci)), "campaign_members": int(len(cm)),
            "tasks": int(len(t)), "events": int(len(e)), "opportunity_history": int(len(hdf)),
            "opportunity_contact_roles": int(len(rdf))}


def write_spend(out_dir: Path, params: Params, plan: MarketingPlan, camp_ids: np.ndarray, streams, bad_rows: list[dict]) -> dict:
    """spend/ad_spend.csv: one row per (day, campaign) with spend, digital impressions and clicks."""
    rows_c, rows_d = np.nonzero(plan.spend > 0)
    order = np.lexsort((rows_c, rows_d))
    rows_c, rows_d = rows_c[order], rows_d[order]
    chans = np.array([plan.campaigns[c].channel for c in rows_c])
    sp = plan.spend[rows_c, rows_d]
    cpm = {"paid_search": 45.0, "paid_social": 38.0, "display": 6.0, "content": 60.0, "tv": 22.0}
    ctr = {"paid_search": 0.035, "paid_social": 0.006, "display": 0.0015, "content": 0.01}
    rng = streams.rng("spend_metrics")
    noise = rng.lognormal(0.0, 0.15, len(sp))
    cpm_arr = np.array([cpm.get(c, np.nan) for c in chans])
    impressions = np.round(sp / cpm_arr * 1000.0 * noise)
    ctr_arr = np.array([ctr.get(c, np.nan) for c in chans])
    clicks = np.round(impressions * ctr_arr * rng.lognormal(0.0, 0.2, len(sp)))
    df = pd.DataFrame({"date": _date(rows_d), "channel": chans, "campaign": camp_ids[rows_c],
                       "spend": [f"{v:.2f}" for v in sp],
                       "impressions": pd.array(np.where(np.isnan(impressions), None, impressions), dtype="Int64"),
                       "clicks": pd.array(np.where(np.isnan(clicks), None, clicks), dtype="Int64"),
                       "currency": "USD"})
    files: dict[str, int] = {}
    df = _insert_bad(df, "spend/ad_spend.csv", [
        (10, {"spend": "-120.50"}, "spend", "negative spend"),
        (20, {"date": "2025-13-45"}, "date", "unparsable date"),
    ], bad_rows)
    _write(df, out_dir, "spend/ad_spend.csv", files)
    return {"files": files, "rows": int(len(sp))}


def write_targets(out_dir: Path, params: Params, pop: Population, r: SimResult, streams) -> dict:
    """targets/targets.csv: quarterly plan numbers, overall and by region, set near (not at) actuals."""
    region = np.array([region_of(COUNTRIES[i][1]) for i in pop.country_idx])  # the reports' own regions
    D = params.n_days
    q_of_day = np.array([(np.datetime64("2024-10-01", "D") + i).astype(object) for i in range(D)])
    qidx = np.array([(d.year - 2024) * 4 + (d.month - 1) // 3 - 3 for d in q_of_day])
    labels = [f"{2024 + (q + 3) // 4}-Q{(q + 3) % 4 + 1}" for q in range(qidx.max() + 1)]
    rng = streams.rng("targets")
    rows = []
    won = r.o_won & r.o_closed & (r.o_close <= D - 1)
    for seg in ("all", "NA", "EMEA", "APAC"):
        seg_m = np.ones(len(r.o_account), bool) if seg == "all" else region[r.o_account] == seg
        for q, label in enumerate(labels):
            pipe = r.o_amount_usd[seg_m & (r.o_created <= D - 1) & (qidx[np.minimum(r.o_created, D - 1)] == q)].sum()
            rev = r.o_amount_usd[seg_m & won & (qidx[np.minimum(r.o_close, D - 1)] == q)].sum()
            rows.append({"period": label, "segment": seg,
                         "revenue_target": f"{round(rev * rng.uniform(0.95, 1.3), -3):.2f}",
                         "pipeline_target": f"{round(pipe * rng.uniform(1.0, 1.4), -3):.2f}"})
    files: dict[str, int] = {}
    _write(pd.DataFrame(rows), out_dir, "targets/targets.csv", files)
    return {"files": files}


__all__ = ["write_salesforce", "write_spend", "write_targets", "TITLES", "ROLES"]
