"""HubSpot exports: UI labels ("Deal Stage") listed before internal names (dealstage).

The `property_`/`properties.` prefixes of API dumps are stripped by `norm()`, so the internal
names below also match `property_dealstage`.
"""

ALIASES = {
    "companies": {
        "account_id": ["Record ID", "Company ID", "hs_object_id", "companyId"],
        "name": ["Company name", "Name", "name"],
        "domain": ["Company Domain Name", "Website URL", "domain", "website"],
        "industry": ["Industry", "industry"],
        "employees": ["Number of Employees", "numberofemployees"],
        "annual_revenue": ["Annual Revenue", "annualrevenue"],
        "country": ["Country/Region", "Country", "country"],
        "created_at": ["Create Date", "createdate"],
    },
    "contacts": {
        "person_id": ["Record ID", "Contact ID", "hs_object_id", "vid"],
        "account_id": ["Associated Company ID", "Associated Company IDs", "associatedcompanyid"],
        "email": ["Email", "email"], "first_name": ["First Name", "firstname"],
        "last_name": ["Last Name", "lastname"], "title": ["Job Title", "jobtitle"],
        "created_at": ["Create Date", "createdate"],
        "lifecycle_stage": ["Lifecycle Stage", "lifecyclestage"],
        "lead_at": ["Became a Lead Date", "hs_lifecyclestage_lead_date"],
        "mql_at": ["Became a Marketing Qualified Lead Date", "hs_lifecyclestage_marketingqualifiedlead_date"],
        "sql_at": ["Became a Sales Qualified Lead Date", "hs_lifecyclestage_salesqualifiedlead_date"],
        "opportunity_at": ["Became an Opportunity Date", "hs_lifecyclestage_opportunity_date"],
        "customer_at": ["Became a Customer Date", "hs_lifecyclestage_customer_date"],
        # source fields -> touches (crm.SOURCE_TOUCHES): the category, its drill-downs, its date
        "original_source": ["Original Source", "Original Source Type", "hs_analytics_source"],
        "original_source_1": ["Original Source Drill-Down 1", "hs_analytics_source_data_1"],
        "original_source_2": ["Original Source Drill-Down 2", "hs_analytics_source_data_2"],
        "first_seen_at": ["Time First Seen", "First Seen", "hs_analytics_first_timestamp"],
        "latest_source": ["Latest Source", "hs_latest_source"],
        "latest_source_1": ["Latest Source Drill-Down 1", "hs_latest_source_data_1"],
        "latest_source_2": ["Latest Source Drill-Down 2", "hs_latest_source_data_2"],
        "latest_source_at": ["Latest Source Timestamp", "Latest Source Date", "hs_latest_source_timestamp"],
    },
    "deals": {
        "opportunity_id": ["Record ID", "Deal ID", "hs_object_id", "dealId"],
        "account_id": ["Associated Company ID", "Associated Company IDs", "associatedcompanyid",
                       "associations.companies"],
        "name": ["Deal Name", "dealname"], "type_raw": ["Deal Type", "dealtype"],
        "stage": ["Deal Stage", "dealstage"], "amount": ["Amount", "amount"],
        "currency": ["Currency", "deal_currency_code"],
        "probability": ["Deal probability", "Deal Stage Probability", "hs_deal_stage_probability"],
        "created_at": ["Create Date", "createdate"], "close_date": ["Close Date", "closedate"],
        "is_closed": ["Is Closed", "hs_is_closed"], "is_won": ["Is Closed Won", "hs_is_closed_won"],
        "campaign_id": ["Original Source Campaign", "hs_campaign"],
        "pipeline": ["Pipeline", "pipeline"],
    },
}
