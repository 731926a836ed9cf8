"""Which source and object a file holds, from its headers (the file name is a hint).

Why headers first: users rename exports ("opps_q3.csv"), but an export's columns are what the
CRM wrote. The name decides only when the headers fit several objects.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from revline.ingest.aliases import norm
from revline.ingest.lift_tests import is_lift_test_file
from revline.ingest.preamble import title_lines
from revline.ingest.readers import UnreadableFile, check_readable, duckdb_path, file_kind, is_json_array
from revline.ingest.spend import platform_of
from revline.ingest.xlsx import is_workbook, sheet_names
from revline.ingest.xlsx import read_headers as xlsx_headers
from revline.store.schema import MIGRATIONS, statements

FORMATS = ("auto", "salesforce", "hubspot", "segment", "spend", "targets", "lift_tests", "revline")
SF_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "OpportunityHistory", "OpportunityLineItem",
              "Campaign", "CampaignMember", "Task", "Event")
HS_OBJECTS = ("companies", "contacts", "deals")
REVLINE_TABLES = ("accounts", "people", "identities", "identity_links", "touchpoints", "campaigns", "spend",
                  "opportunities", "opportunity_contacts", "stage_events", "targets", "events")  # lift_tests: its own reader


class DetectionError(ValueError):
    """The file's headers match no known source; the message lists what was looked for."""


@dataclass(frozen=True)
class Detected:
    """What a file was recognised as: its source format, object and naming convention."""

    fmt: str         # salesforce, hubspot, segment, spend, targets, revline
    obj: str         # Salesforce object, HubSpot object, or canonical table
    convention: str  # salesforce (API names), fivetran (snake_case), hubspot, segment, ...
    sheet: str | None = None  # the sheet of an Excel workbook this is about

    def shown(self, path: Path) -> Path:
        """The file as reports name it: a workbook's sheet as `book.xlsx[Sheet]`."""
        return Path(f"{path}[{self.sheet}]") if self.sheet else Path(path)


def _open_text(path: Path):
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def read_headers(path: Path) -> list[str]:
    """The file's column names (the keys of the first JSON object; a workbook's first sheet),
    refusing files no reader can take (see `readers.check_readable`) in one line."""
    path = Path(path)
    if is_workbook(path):
        sheets = sheet_names(path)
        return xlsx_headers(path, sheets[0]) if sheets else []
    check_readable(path)
    kind = file_kind(path)
    try:
        if kind == "parquet":
            with duckdb_path(path) as name, duckdb.connect() as con:
                return [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [name]).fetchall()]
        if kind == "jsonl" and is_json_array(path):
            return _array_headers(path)
        return _text_headers(path, kind)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise UnreadableFile(f"{path}: cannot be read ({exc}); check the file, or download it again") from None
    except Exception as exc:
        if isinstance(exc, duckdb.Error):
            first = str(exc).splitlines()[0]
            raise UnreadableFile(f"{path}: cannot be read as {kind} ({first}); check the file and its name") from None
        raise


def _text_headers(path: Path, kind: str) -> list[str]:
    with _open_text(path) as fh:
        if kind == "jsonl":
            for line in fh:
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        return list(obj.keys())
            return []
        reader = csv.reader(fh)
        for _ in range(title_lines(path)):
            next(reader, None)
        first = next(reader, [])
        if len(first) == 1:  # one field: maybe another delimiter (';' in European exports, tab)
            line = first[0]
            delim = max(";\t|", key=line.count)
            if line.count(delim):
                first = next(csv.reader([line], delimiter=delim))
        return [h.strip() for h in first]


def _array_headers(path: Path) -> list[str]:
    """Keys of the first object of a JSON array file (read by DuckDB: the array may be large)."""
    with duckdb_path(path) as name, duckdb.connect() as con:
        row = con.execute(
            "SELECT json_keys(json) FROM read_json_objects(?, format = 'array') "
            "WHERE json_type(json) = 'OBJECT' LIMIT 1", [name]
        ).fetchone()
    return list(row[0]) if row else []


def _stem_hint(path: Path) -> str:
    stem = path.name.lower()
    for suf in (".gz", ".csv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".tsv", ".xlsx", ".xlsm"):
        if stem.endswith(suf):
            stem = stem[: -len(suf)]
    stem = re.sub(r"^(sf|salesforce|hubspot|hs)[_\- ]+", "", stem)
    stem = re.sub(r"[_\- ]+(data|export|extract|\d[\d_\-]*)$", "", stem)
    return re.sub(r"[^a-z0-9]", "", stem)


# Salesforce objects revline does not read: a file named after one is never guessed from headers.
SF_UNSUPPORTED = {"user", "users", "userrole", "order", "orders", "product", "product2",
                  "accounthistory", "contacthistory", "leadhistory", "case", "cases", "pricebook", "pricebook2",
                  "pricebookentry", "recordtype", "contract", "asset", "quote", "quotelineitem"}


def _salesforce_object(h: set[str], hint: str) -> str | None:
    named = {o.lower(): o for o in SF_OBJECTS}
    if hint in named:
        return named[hint]
    if hint in SF_UNSUPPORTED:
        return None
    if hint.endswith("s") and hint[:-1] in named:
        return named[hint[:-1]]
    if hint == "opportunities":
        return "Opportunity"
    if "opportunityid" in h and ({"product2id", "pricebookentryid", "productcode", "quantity", "totalprice", "unitprice"} & h) \
            and not ({"stagename", "contactid"} & h):
        return "OpportunityLineItem"
    label = _salesforce_label_object(h)
    if label:
        return label
    if {"opportunityid", "contactid"} <= h:
        return "OpportunityContactRole"
    if "stagename" in h and ("opportunityid" in h or "fivetranstart" in h):
        return "OpportunityHistory"
    if "campaignid" in h and ({"contactid", "leadid"} & h) and ({"status", "hasresponded"} & h):
        return "CampaignMember"
    if {"isconverted", "convertedcontactid", "convertedaccountid"} & h:
        return "Lead"
    if "stagename" in h:
        return "Opportunity"
    if {"budgetedcost", "actualcost", "numberofleads"} & h:
        return "Campaign"
    if {"startdatetime", "eventsubtype", "durationinminutes"} & h:
        return "Event"
    if "whoid" in h and ({"tasksubtype", "activitydate", "calltype", "status"} & h):
        return "Task"
    if "accountid" in h and ({"email", "firstname", "lastname", "mailingcountry"} & h):
        return "Contact"
    if {"billingcountry", "numberofemployees", "annualrevenue", "website", "industry"} & h and "email" not in h:
        return "Account"
    return None


def _salesforce_label_object(h: set[str]) -> str | None:
    """The object of a report export (field labels, see aliases/salesforce_labels.py), or of a
    CRM export in the same shape (deal_stage, close_value)."""
    history = {"tostage", "fromstage", "editdate"}
    if ({"stage", "dealstage"} & h) and not (history & h) and (
        {"opportunityname", "accountname", "account", "won", "closed", "amount", "closevalue", "closedate"} & h
    ):
        return "Opportunity"
    if "opportunityid" in h and ("stage" in h or history & h):
        return "OpportunityHistory"
    if "campaignmemberid" in h or ("campaignid" in h and {"contactid", "leadid"} & h and {"memberstatus", "responded"} & h):
        return "CampaignMember"
    member = "campaignid" in h  # a campaign member row also names its lead/contact and email
    if not member and "leadid" in h and ({"leadstatus", "converted", "companyaccount", "company", "email", "leadsource"} & h):
        return "Lead"
    if not member and "contactid" in h and ({"email", "firstname", "lastname", "accountname", "accountid"} & h):
        return "Contact"
    if "campaignid" in h and ({"campaignname", "budgetedcostincampaign", "actualcostincampaign", "startdate"} & h):
        return "Campaign"
    if ({"eventid", "startdatetime", "eventsubtype"} & h) and ({"activityid", "eventid", "nameid", "subject"} & h):
        return "Event"
    if ({"activityid", "taskid"} & h) and ({"nameid", "relatedtoid", "duedate", "tasksubtype", "subject"} & h):
        return "Task"
    if "accountid" in h and "accountname" in h and "email" not in h and "stage" not in h:
        return "Account"
    return None


# What decides each Salesforce object, for the error that lists them (API name / report label).
DECIDING = {
    "Opportunity": "StageName, or Stage with Opportunity Name/Account Name/Amount/Close Date",
    "OpportunityHistory": "OpportunityId with StageName, or Opportunity ID with Stage/To Stage/Edit Date",
    "OpportunityContactRole": "OpportunityId with ContactId",
    "OpportunityLineItem": "OpportunityId with Product2Id/PricebookEntryId/ProductCode/Quantity/TotalPrice",
    "Lead": "IsConverted/ConvertedContactId/ConvertedAccountId, or Lead ID with Lead Status/Company",
    "Contact": "AccountId with Email/FirstName/LastName, or Contact ID with Email/Account Name",
    "Account": "BillingCountry/NumberOfEmployees/AnnualRevenue/Website/Industry without Email, or Account ID with Account Name",
    "Campaign": "BudgetedCost/ActualCost/NumberOfLeads, or Campaign ID with Campaign Name",
    "CampaignMember": "CampaignId with ContactId/LeadId and Status/HasResponded, or Campaign Member ID",
    "Task": "WhoId with TaskSubtype/ActivityDate/CallType/Status, or Activity ID with Name ID/Due Date",
    "Event": "StartDateTime/EventSubtype/DurationInMinutes",
}


def _forced_object(obj: str, fmt: str, path: Path) -> Detected:
    """`--object NAME`: the object as named (any case; HubSpot objects too), its format implied."""
    sf = {o.lower(): o for o in SF_OBJECTS}
    key = obj.strip().lower()
    if key in sf and fmt in ("auto", "salesforce"):
        return Detected("salesforce", sf[key], "salesforce")
    if key in HS_OBJECTS and fmt in ("auto", "hubspot"):
        return Detected("hubspot", key, "hubspot")
    choices = ", ".join(SF_OBJECTS) if fmt == "salesforce" else ", ".join(HS_OBJECTS) if fmt == "hubspot" \
        else ", ".join((*SF_OBJECTS, *HS_OBJECTS))
    raise DetectionError(f"{path}: unknown --object {obj!r}{' for --format ' + fmt if fmt != 'auto' else ''}; "
                         f"choose one of {choices}")


def _hubspot_object(h: set[str], hint: str) -> str | None:
    for o in HS_OBJECTS:
        if hint in (o, o.rstrip("s"), "all" + o):
            return o
    if {"dealstage", "dealname", "pipeline"} & h:
        return "deals"
    if {"email", "lifecyclestage", "firstname", "lastname"} & h:
        return "contacts"
    if {"companyname", "companydomainname", "domain", "name"} & h:
        return "companies"
    return None


def _is_hubspot(headers: list[str], h: set[str]) -> bool:
    low = [x.lower() for x in headers]
    return (
        "recordid" in h or "hsobjectid" in h or any(x.startswith(("hs_", "property_", "properties.")) for x in low)
        or bool({"dealstage", "lifecyclestage", "companydomainname", "associatedcompanyid"} & h)
    ) and "opportunityid" not in h  # HubSpot calls them deals: an opportunity_id is another CRM's


def detect(path: Path, fmt: str = "auto", headers: list[str] | None = None, obj: str | None = None,
           hint: str | None = None) -> Detected:
    """Detect the source format and object of one file (or check them when `fmt` is forced);
    `obj` (--object) names the CRM object whatever the headers and file name say; `hint` is the
    name to take the object hint from instead of the file's (a workbook's sheet)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise DetectionError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    headers = read_headers(path) if headers is None else headers
    h = {norm(x) for x in headers}
    hint = _stem_hint(Path(hint) if hint else path)
    snakey = any("_" in x for x in headers) and all(x == x.lower() for x in headers)
    conv = "fivetran" if snakey else "salesforce"
    if obj:
        forced = _forced_object(obj, fmt, path)
        return Detected(forced.fmt, forced.obj, conv if forced.fmt == "salesforce" else "hubspot")

    if fmt in ("auto", "segment") and file_kind(path) == "jsonl" and "type" in h and (
        {"messageid", "anonymousid", "userid"} & h
    ):
        if is_json_array(path):
            raise UnreadableFile(f"{path}: Segment events in one JSON array; write them as JSON lines, one "
                                 f"event per line (for example `jq -c '.[]' {path.name}`), then ingest that")
        return Detected("segment", "events", "segment")
    if fmt == "segment":
        raise DetectionError(f"{path}: not Segment events (need JSON lines with type and messageId/anonymousId/userId)")
    if fmt in ("auto", "revline") and hint in {t.replace("_", "") for t in REVLINE_TABLES}:
        table = next(t for t in REVLINE_TABLES if t.replace("_", "") == hint)
        if fmt == "revline" or all(x in _canonical_columns(table) for x in headers):
            return Detected("revline", table, "revline")
    if fmt == "revline":
        raise DetectionError(f"{path}: a revline table dump must be named after its table (e.g. accounts.csv)")
    if fmt == "auto" and {"date", "currency", "rate"} <= h and len(h) == 3:
        return Detected("fx", "fx_rates", "fx")  # dated conversion rates (revline.store.fx)
    if fmt == "lift_tests" or fmt == "auto" and is_lift_test_file(h):
        return Detected("lift_tests", "lift_tests", "lift_tests")  # channel, window, lift, sd (ingest/lift_tests.py)
    platform = platform_of(headers) if fmt in ("auto", "spend") else None
    if platform:
        return Detected("spend", "spend", platform)
    if fmt in ("auto", "spend") and {"date", "spend"} <= h or (fmt == "spend"):
        if fmt == "spend" or "channel" in h:
            return Detected("spend", "spend", "spend")
    if fmt in ("auto", "targets") and ("period" in h or {"periodstart", "periodend"} <= h) and (
        {"revenuetarget", "pipelinetarget"} & h
    ) or fmt == "targets":
        return Detected("targets", "targets", "targets")
    if fmt in ("auto", "hubspot") and (fmt == "hubspot" or _is_hubspot(headers, h)):
        obj = _hubspot_object(h, hint)
        if obj:
            return Detected("hubspot", obj, "hubspot")
        if fmt == "hubspot":
            raise DetectionError(
                f"{path}: cannot tell which HubSpot object (contacts, companies, deals) from headers {headers[:8]}; "
                f"pass --object NAME. Headers that decide it: deals: Deal Stage/Deal Name/Pipeline; "
                f"contacts: Email/Lifecycle Stage/First Name/Last Name; companies: Company name/Company Domain Name/Name"
            )
    if fmt in ("auto", "salesforce"):
        found = _salesforce_object(h, hint)
        if found:
            return Detected("salesforce", found, conv)
    if fmt == "salesforce":
        deciding = "; ".join(f"{o}: {d}" for o, d in DECIDING.items())
        raise DetectionError(
            f"{path}: cannot tell which Salesforce object from headers {headers[:10]}; pass --object NAME. "
            f"Headers that decide it: {deciding}"
        )
    raise DetectionError(
        f"{path}: cannot tell what this file is from its headers {headers[:10]}; "
        f"pass --format ({', '.join(FORMATS[1:])}) or name it after its object (e.g. Opportunity.csv)"
    )


@functools.lru_cache(maxsize=None)
def _canonical_columns(table: str) -> frozenset[str]:
    """Column names of a canonical table, read from the DDL (the contract) in a scratch database."""
    con = duckdb.connect()
    for _, step in MIGRATIONS:
        for s in statements(step, con):
            con.execute(s)
    cols = frozenset(r[0] for r in con.execute(f"DESCRIBE {table}").fetchall())
    con.close()
    return cols
