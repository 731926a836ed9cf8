"""Salesforce API field names (CamelCase, custom fields with __c), as Data Loader/Workbench export them."""

ALIASES = {
    "Account": {
        "account_id": ["Id"], "name": ["Name"], "domain": ["Website", "Domain__c"],
        "industry": ["Industry"], "employees": ["NumberOfEmployees"], "annual_revenue": ["AnnualRevenue"],
        "country": ["BillingCountry", "ShippingCountry"], "created_at": ["CreatedDate"],
    },
    "Contact": {
        "person_id": ["Id"], "account_id": ["AccountId"], "email": ["Email"], "first_name": ["FirstName"],
        "last_name": ["LastName"], "title": ["Title"], "created_at": ["CreatedDate"],
        "mql_at": ["MQL_Date__c"], "sql_at": ["SQL_Date__c"], "lead_source": ["LeadSource"],
    },
    "Lead": {
        "person_id": ["Id"], "email": ["Email"], "first_name": ["FirstName"], "last_name": ["LastName"],
        "title": ["Title"], "company": ["Company"], "status": ["Status"], "lead_source": ["LeadSource"],
        "created_at": ["CreatedDate"], "is_converted": ["IsConverted"], "converted_at": ["ConvertedDate"],
        "converted_contact_id": ["ConvertedContactId"], "converted_account_id": ["ConvertedAccountId"],
        "converted_opportunity_id": ["ConvertedOpportunityId"],
        "mql_at": ["MQL_Date__c"], "sql_at": ["SQL_Date__c"],
    },
    "Opportunity": {
        "opportunity_id": ["Id"], "account_id": ["AccountId"], "name": ["Name"], "type_raw": ["Type"],
        "stage": ["StageName"], "amount": ["Amount"], "currency": ["CurrencyIsoCode"],
        "probability": ["Probability"], "created_at": ["CreatedDate"], "close_date": ["CloseDate"],
        "is_closed": ["IsClosed"], "is_won": ["IsWon"], "campaign_id": ["CampaignId"],
        "lead_source": ["LeadSource"],
    },
    "OpportunityContactRole": {
        "opportunity_id": ["OpportunityId"], "person_id": ["ContactId"], "role": ["Role"],
        "is_primary": ["IsPrimary"],
    },
    "OpportunityHistory": {
        "opportunity_id": ["OpportunityId"], "stage": ["StageName"], "entered_at": ["CreatedDate"],
    },
    "OpportunityLineItem": {  # read for the product dimension of its opportunity (ingest/extras.py)
        "line_id": ["Id"], "opportunity_id": ["OpportunityId"],
        "product": ["Product2.Name", "ProductName", "Product Name", "Name", "ProductCode", "Product2Id"],
        "total_price": ["TotalPrice", "Total Price"],
    },
    "Campaign": {
        "campaign_id": ["Id"], "name": ["Name"], "campaign_type": ["Type"], "parent_id": ["ParentId"],
        "start_date": ["StartDate"], "end_date": ["EndDate"], "budgeted_cost": ["BudgetedCost"],
        "actual_cost": ["ActualCost"],
    },
    "CampaignMember": {
        "member_id": ["Id"], "campaign_id": ["CampaignId"], "contact_id": ["ContactId"], "lead_id": ["LeadId"],
        "status": ["Status"], "has_responded": ["HasResponded"], "responded_at": ["FirstRespondedDate"],
        "created_at": ["CreatedDate"],
    },
    "Task": {
        "activity_id": ["Id"], "who_id": ["WhoId"], "what_id": ["WhatId"], "account_id": ["AccountId"],
        "occurred_at": ["ActivityDate", "CompletedDateTime", "CreatedDate"],
        "kind": ["TaskSubtype", "Type"], "subject": ["Subject"],
    },
    "Event": {
        "activity_id": ["Id"], "who_id": ["WhoId"], "what_id": ["WhatId"], "account_id": ["AccountId"],
        "occurred_at": ["StartDateTime", "ActivityDateTime", "ActivityDate", "CreatedDate"],
        "kind": ["Type", "EventSubtype"], "subject": ["Subject"],
    },
}
