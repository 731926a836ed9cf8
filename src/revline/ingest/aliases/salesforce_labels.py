"""Salesforce field labels, as report exports ("Export Details", CSV or Excel) name columns.

Why a map of its own: a report export names columns by label ("Opportunity ID", "Stage",
"Won") where Data Loader writes API names (Id, StageName, IsWon). Labels that equal an API name
after `norm()` ("Close Date" = CloseDate, "Account ID" = AccountId, "Probability (%)" =
Probability) need no entry. Labels from Salesforce's field reference; report columns that
show a related record's name rather than its id ("Account Name") map to a `*_name` field that
the readers resolve to an id (see revline.ingest.account_names).

The last group, "common CRM export names", covers exports of other CRMs in the same shape
(e.g. the public Maven CRM data set: deal_stage, close_value, engage_date, account).
"""

ALIASES = {
    "Account": {
        "account_id": ["Account ID"], "name": ["Account Name"], "domain": ["Website"],
        "employees": ["Employees"], "annual_revenue": ["Annual Revenue"],
        "country": ["Billing Country", "Shipping Country"], "created_at": ["Created Date"],
    },
    "Contact": {
        "person_id": ["Contact ID"], "account_id": ["Account ID"], "account_name": ["Account Name"],
        "email": ["Email"], "first_name": ["First Name"], "last_name": ["Last Name"], "title": ["Title"],
        "created_at": ["Created Date"], "lead_source": ["Lead Source"],
    },
    "Lead": {
        "person_id": ["Lead ID"], "company": ["Company / Account", "Company"], "status": ["Lead Status"],
        "lead_source": ["Lead Source"], "is_converted": ["Converted"], "converted_at": ["Converted Date"],
        "converted_contact_id": ["Converted Contact ID", "Converted Contact"],
        "converted_account_id": ["Converted Account ID", "Converted Account"],
        "converted_opportunity_id": ["Converted Opportunity ID", "Converted Opportunity"],
        "created_at": ["Created Date"],
    },
    "Opportunity": {
        "opportunity_id": ["Opportunity ID", "Deal ID"], "account_name": ["Account Name", "Account"],
        "name": ["Opportunity Name"], "type_raw": ["Type", "Opportunity Type"],
        "stage": ["Stage", "Deal Stage"], "amount": ["Amount", "Close Value"],
        "currency": ["Opportunity Currency", "Amount Currency"], "probability": ["Probability (%)"],
        "created_at": ["Created Date", "Engage Date"], "close_date": ["Close Date"],
        "is_closed": ["Closed"], "is_won": ["Won"], "lead_source": ["Lead Source"],
    },
    "OpportunityContactRole": {
        "opportunity_id": ["Opportunity ID"], "person_id": ["Contact ID"], "role": ["Role"],
        "is_primary": ["Primary"],
    },
    "OpportunityHistory": {
        "opportunity_id": ["Opportunity ID"], "stage": ["Stage", "To Stage"],
        "entered_at": ["Created Date", "Edit Date"],
    },
    "Campaign": {
        "campaign_id": ["Campaign ID"], "name": ["Campaign Name"], "campaign_type": ["Type", "Campaign Type"],
        "parent_id": ["Parent Campaign ID"], "start_date": ["Start Date"], "end_date": ["End Date"],
        "budgeted_cost": ["Budgeted Cost in Campaign", "Budgeted Cost"],
        "actual_cost": ["Actual Cost in Campaign", "Actual Cost"],
    },
    "CampaignMember": {
        "member_id": ["Campaign Member ID"], "campaign_id": ["Campaign ID"], "contact_id": ["Contact ID"],
        "lead_id": ["Lead ID"], "status": ["Member Status", "Status"], "has_responded": ["Responded"],
        "responded_at": ["First Responded Date"], "created_at": ["Created Date"],
    },
    "Task": {
        "activity_id": ["Activity ID", "Task ID"], "who_id": ["Name ID"], "what_id": ["Related To ID"],
        "account_id": ["Account ID"], "occurred_at": ["Due Date", "Completed Date/Time", "Date", "Created Date"],
        "kind": ["Task Subtype", "Type"], "subject": ["Subject"],
    },
    "Event": {
        "activity_id": ["Activity ID", "Event ID"], "who_id": ["Name ID"], "what_id": ["Related To ID"],
        "account_id": ["Account ID"], "occurred_at": ["Start Date Time", "Start", "Date", "Created Date"],
        "kind": ["Type", "Event Subtype"], "subject": ["Subject"],
    },
}
