"""A small CRM-only company written as Salesforce API-name exports (and HubSpot exports) by tests.

Shape: accounts with contacts; leads, some converted into those contacts; opportunities with
contact roles; Lead Source on some records and not on others; optional campaigns and members.
Every expected figure in the tests is derived from these rows, never typed in.
"""

from __future__ import annotations

import csv
from pathlib import Path

ACCOUNTS = [("001A", "Acme", "acme.com"), ("001B", "Globex", "globex.com"), ("001C", "Initech", "initech.com"),
            ("001D", "Umbrella", "umbrella.com"), ("001E", "Hooli", "hooli.com")]
# contact id, account, email, created, LeadSource
CONTACTS = [
    ("003A1", "001A", "ann@acme.com", "2025-02-01T10:00:00.000+0000", "Web"),            # converted from 00QA1
    ("003B1", "001B", "bob@globex.com", "2025-02-03T10:00:00.000+0000", "Trade Show"),   # no lead
    ("003C1", "001C", "cat@initech.com", "2025-02-05T10:00:00.000+0000", ""),            # no source anywhere
    ("003D1", "001D", "dan@umbrella.com", "2025-02-07T10:00:00.000+0000", "Partner Referral"),  # converted
]
# lead id, email, created, LeadSource, converted contact, converted account, converted opp
LEADS = [
    ("00QA1", "ann@acme.com", "2025-01-10T09:00:00.000+0000", "Web", "003A1", "001A", "006A"),
    ("00QD1", "dan@umbrella.com", "2025-01-12T09:00:00.000+0000", "Partner Referral", "003D1", "001D", ""),
    ("00QX1", "eve@example.org", "2025-01-15T09:00:00.000+0000", "Webinar", "", "", ""),   # never converted
]
# opp id, account, stage, amount, created, close, LeadSource
OPPORTUNITIES = [
    ("006A", "001A", "Closed Won", "1000", "2025-02-10T00:00:00.000+0000", "2025-03-01", "Web"),
    ("006B", "001B", "Closed Won", "2000", "2025-02-12T00:00:00.000+0000", "2025-03-05", "Trade Show"),
    ("006C", "001C", "Closed Won", "4000", "2025-02-14T00:00:00.000+0000", "2025-03-09", ""),      # sourceless
    ("006D", "001D", "Closed Won", "8000", "2025-02-16T00:00:00.000+0000", "2025-03-12", "Partner Referral"),
    ("006E", "001E", "Closed Won", "500", "2025-02-18T00:00:00.000+0000", "2025-03-15", "Google AdWords"),  # opp only
    ("006F", "001B", "Closed Won", "700", "2025-02-20T00:00:00.000+0000", "2025-03-20", "Webinar"),  # a new source
]
ROLES = [("006A", "003A1"), ("006B", "003B1"), ("006C", "003C1"), ("006D", "003D1"), ("006F", "003B1")]


def write(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def salesforce_crm_only(folder: Path) -> Path:
    """Account, Contact, Lead, Opportunity, OpportunityContactRole with API names; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "Account.csv", ["Id", "Name", "Website", "CreatedDate"],
          [(a, n, d, "2024-12-01T00:00:00.000+0000") for a, n, d in ACCOUNTS])
    write(folder / "Contact.csv", ["Id", "AccountId", "Email", "FirstName", "LastName", "CreatedDate", "LeadSource"],
          [(c, a, e, e.split("@")[0].title(), "X", t, s) for c, a, e, t, s in CONTACTS])
    write(folder / "Lead.csv", ["Id", "Email", "FirstName", "LastName", "Company", "Status", "CreatedDate", "LeadSource",
                                "IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedOpportunityId"],
          [(i, e, "L", "X", "Co", "Open", t, s, "true" if c else "false", c, a, o) for i, e, t, s, c, a, o in LEADS])
    write(folder / "Opportunity.csv", ["Id", "AccountId", "Name", "Type", "StageName", "Amount", "CreatedDate",
                                       "CloseDate", "IsClosed", "IsWon", "LeadSource"],
          [(i, a, f"Deal {i}", "New Business", st, amt, c, cl, "true", "true", s)
           for i, a, st, amt, c, cl, s in OPPORTUNITIES])
    write(folder / "OpportunityContactRole.csv", ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary"],
          [(f"00K{n}", o, c, "Decision Maker", "true") for n, (o, c) in enumerate(ROLES)])
    return folder


def with_campaign_members(folder: Path) -> Path:
    """Add a Campaign and CampaignMember export (touches the CRM already produced before item 4)."""
    write(folder / "Campaign.csv", ["Id", "Name", "Type", "StartDate"], [("701W", "Spring webinar", "Webinar", "2025-01-01")])
    write(folder / "CampaignMember.csv", ["Id", "CampaignId", "ContactId", "LeadId", "Status", "HasResponded",
                                          "FirstRespondedDate", "CreatedDate"],
          [("00vA", "701W", "003A1", "", "Attended", "true", "2025-01-20T00:00:00.000+0000", "2025-01-18T00:00:00.000+0000"),
           ("00vB", "701W", "003B1", "", "Registered", "false", "", "2025-01-19T00:00:00.000+0000")])
    return folder
