"""Fivetran-style warehouse copies of Salesforce: snake_case names, custom fields end in `_c`.

History-mode tables (`_fivetran_start`/`_fivetran_end`) hold one row per version of a record;
for OpportunityHistory the version start is when the stage was entered.
"""

ALIASES = {
    "Account": {
        "account_id": ["id"], "name": ["name"], "domain": ["website", "domain_c"], "industry": ["industry"],
        "employees": ["number_of_employees"], "annual_revenue": ["annual_revenue"],
        "country": ["billing_country", "shipping_country"], "created_at": ["created_date"],
    },
    "Contact": {
        "person_id": ["id"], "account_id": ["account_id"], "email": ["email"], "first_name": ["first_name"],
        "last_name": ["last_name"], "title": ["title"], "created_at": ["created_date"],
        "mql_at": ["mql_date_c"], "sql_at": ["sql_date_c"], "lead_source": ["lead_source"],
    },
    "Lead": {
        "person_id": ["id"], "email": ["email"], "first_name": ["first_name"], "last_name": ["last_name"],
        "title": ["title"], "company": ["company"], "status": ["status"], "lead_source": ["lead_source"],
        "created_at": ["created_date"], "is_converted": ["is_converted"], "converted_at": ["converted_date"],
        "converted_contact_id": ["converted_contact_id"], "converted_account_id": ["converted_account_id"],
        "converted_opportunity_id": ["converted_opportunity_id"],
        "mql_at": ["mql_date_c"], "sql_at": ["sql_date_c"],
    },
    "Opportunity": {
        "opportunity_id": ["id"], "account_id": ["account_id"], "name": ["name"], "type_raw": ["type"],
        "stage": ["stage_name"], "amount": ["amount"], "currency": ["currency_iso_code"],
        "probability": ["probability"], "created_at": ["created_date"], "close_date": ["close_date"],
        "is_closed": ["is_closed"], "is_won": ["is_won"], "campaign_id": ["campaign_id"],
        "lead_source": ["lead_source"],
    },
    "OpportunityContactRole": {
        "opportunity_id": ["opportunity_id"], "person_id": ["contact_id"], "role": ["role"],
        "is_primary": ["is_primary"],
    },
    "OpportunityLineItem": {
        "line_id": ["id"], "opportunity_id": ["opportunity_id"],
        "product": ["product_name", "name", "product_code", "product_2_id"], "total_price": ["total_price"],
    },
    "OpportunityHistory": {
        # native OpportunityHistory copy first; history-mode Opportunity table as fallback
        "opportunity_id": ["opportunity_id", "id"], "stage": ["stage_name"],
        "entered_at": ["_fivetran_start", "created_date"],
    },
    "Campaign": {
        "campaign_id": ["id"], "name": ["name"], "campaign_type": ["type"], "parent_id": ["parent_id"],
        "start_date": ["start_date"], "end_date": ["end_date"], "budgeted_cost": ["budgeted_cost"],
        "actual_cost": ["actual_cost"],
    },
    "CampaignMember": {
        "member_id": ["id"], "campaign_id": ["campaign_id"], "contact_id": ["contact_id"], "lead_id": ["lead_id"],
        "status": ["status"], "has_responded": ["has_responded"], "responded_at": ["first_responded_date"],
        "created_at": ["created_date"],
    },
    "Task": {
        "activity_id": ["id"], "who_id": ["who_id"], "what_id": ["what_id"], "account_id": ["account_id"],
        "occurred_at": ["activity_date", "completed_date_time", "created_date"],
        "kind": ["task_subtype", "type"], "subject": ["subject"],
    },
    "Event": {
        "activity_id": ["id"], "who_id": ["who_id"], "what_id": ["what_id"], "account_id": ["account_id"],
        "occurred_at": ["start_date_time", "activity_date_time", "activity_date", "created_date"],
        "kind": ["type", "event_subtype"], "subject": ["subject"],
    },
}
