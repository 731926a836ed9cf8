"""CRM objects (Salesforce under either naming, HubSpot) -> canonical tables, all in SQL.

Each loader receives a staged file and the alias map of its object in the file's naming
convention; the field specs below say which fields are required and how they parse. The
readers state only what the row states: person/account resolution is the stitcher's job,
except where the source names it directly (Contact.AccountId).
"""

from __future__ import annotations

from revline.ingest.account_names import resolve_account_names
from revline.ingest.channels import channel_case
from revline.ingest.context import Ctx
from revline.ingest.currencies import ISO_CURRENCIES
from revline.ingest.extras import keep_extras, merged_columns
from revline.ingest.readers import Staged
from revline.ingest.revenue_types import ambiguous_sql, revenue_type_case, revenue_type_sql, type_hint_sql
from revline.ingest.source_touches import contact_touches, lead_touches, opportunity_touches
from revline.ingest.sqlfrag import lit, snake
from revline.ingest.upsert import Written, upsert
from revline.ingest.validate import Check, Field, typed_rows
from revline.ingest.values import currency_sql
from revline.ingest.writers import write_identity_links, write_stage_events, write_touchpoints
from revline.store.rows import one_row, scalar

F, REQ = Field, True

_CURRENCY_LIST = ", ".join(lit(c) for c in sorted(ISO_CURRENCIES))
UNKNOWN_ACCOUNT = Check("account_id", "account_id IS NOT NULL AND account_id NOT IN (SELECT account_id FROM accounts)",
                        "'unknown account: ' || account_id")
NEGATIVE_AMOUNT = Check("amount", "amount < 0", "'negative amount: ' || CAST(amount AS VARCHAR)")
BAD_CURRENCY = Check("currency", f"currency IS NOT NULL AND upper(currency) NOT IN ({_CURRENCY_LIST})",
                     "'unknown currency: ' || currency")
BAD_EMAIL = Check("email", "email IS NOT NULL AND NOT regexp_full_match(email, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')",
                  "'invalid email: ' || email")
CANON_STAGE = (
    "CASE WHEN {s} IN ('closed_won', 'closedwon', 'won') THEN 'won' "
    "WHEN {s} IN ('closed_lost', 'closedlost', 'lost') THEN 'lost' ELSE {s} END"
)


# the currency an amount cell names ('1.054,00 €', 'USD 1,054.00') when the file has no currency column
_AMOUNT_CURRENCY = (f"CASE WHEN {currency_sql('amount__raw')} IN ({_CURRENCY_LIST}) "
                    f"THEN {currency_sql('amount__raw')} END")


def canon_stage(expr: str) -> str:
    """Closed Won -> won, Closed Lost -> lost, other stage names lowercase snake."""
    return CANON_STAGE.format(s=snake(expr))


def _domain(expr: str) -> str:
    return f"nullif(regexp_extract(lower(trim({expr})), '^(?:[a-z]+://)?(?:www\\.)?([^/:?#]+)', 1), '')"


def _person_stage_events(ctx: Ctx, typed: str, stages: dict[str, str], source_system: str) -> None:
    parts = [
        f"SELECT 'person' AS object_type, person_id AS object_id, {lit(stage)} AS stage, {col} AS entered_at, _row AS _ord FROM {typed}"  # noqa: S608 - temp table, spec columns; values through lit
        for stage, col in stages.items()
    ]
    write_stage_events(ctx, " UNION ALL ".join(parts), source_system, replace_slots=True)


def _start(ctx: Ctx, staged: Staged, table: str, spec, aliases, checks=(), extras: bool = False):
    """Typed, validated rows of `staged` for `table`; with `extras` they also carry the columns no
    field reads (`_attributes`) and the promoted dimensions (`_dimensions`), see ingest.extras."""
    t = typed_rows(ctx.con, staged, spec, aliases, table_name=table, checks=list(checks))
    ctx.record(table, read=staged.rows_read, quarantined=t.quarantined_rows)
    if "account_name" in spec:  # report exports: the account by name when its id is absent
        resolve_account_names(ctx, t.table, "hubspot" if ctx.fmt == "hubspot" else "salesforce")
    if extras:
        keep_extras(ctx, staged, t, table)
    return t


ACCOUNT_SPEC = {
    "account_id": F(required=REQ, unique=True), "name": F(), "domain": F(), "industry": F(), "employees": F("int"),
    "annual_revenue": F("decimal"), "country": F(), "created_at": F("timestamp"),
}


def load_accounts(ctx: Ctx, staged: Staged, aliases, source_system: str) -> None:
    """Accounts by id; the domain is read from a website URL or a bare host."""
    t = _start(ctx, staged, "accounts", ACCOUNT_SPEC, aliases, extras=True)
    sql = (
        f"SELECT account_id, name, {_domain('domain')} AS domain, industry, CAST(employees AS INTEGER) AS employees, "  # noqa: S608 - temp table, spec columns; values through lit
        f"annual_revenue, country, created_at, {lit(source_system)} AS source_system, "
        f"{merged_columns('accounts', 'account_id')}, _row AS _ord FROM {t.table} x"
    )
    ctx.record("accounts", written=upsert(ctx.con, "accounts", sql, ["account_id"]))


CONTACT_SPEC = {
    "person_id": F(required=REQ, unique=True), "account_id": F(instead="account_name"), "account_name": F(), "email": F(), "first_name": F(),
    "last_name": F(), "title": F(), "created_at": F("timestamp"), "mql_at": F("timestamp"), "sql_at": F("timestamp"),
}


# read when the alias map names them: HubSpot's lead date and source fields, Salesforce's LeadSource
CONTACT_OPTIONAL = {
    "lead_at": "timestamp", "lead_source": "text", "original_source": "text", "original_source_1": "text",
    "original_source_2": "text", "first_seen_at": "timestamp", "latest_source": "text", "latest_source_1": "text",
    "latest_source_2": "text", "latest_source_at": "timestamp",
}


def load_contacts(ctx: Ctx, staged: Staged, aliases, source_system: str = "salesforce",
                  id_type: str = "crm_contact_id", lead_expr: str = "created_at") -> None:
    """`lead_expr`: when the person became a lead (Salesforce: created; HubSpot: its lead date)."""
    spec = dict(CONTACT_SPEC)
    for name, kind in CONTACT_OPTIONAL.items():
        if name in aliases:
            spec[name] = F(kind)
    t = _start(ctx, staged, "people", spec, aliases, [UNKNOWN_ACCOUNT, BAD_EMAIL], extras=True)
    con = ctx.con
    con.execute(f"UPDATE {t.table} SET email = lower(email)")  # noqa: S608 - temp table, spec columns; values through lit
    sql = (
        f"SELECT person_id, account_id, email, first_name, last_name, title, created_at, "  # noqa: S608 - temp table, spec columns; values through lit
        f"{lit(source_system)} AS source_system, {merged_columns('people', 'person_id')}, _row AS _ord FROM {t.table} x"
    )
    ctx.record("people", written=upsert(con, "people", sql, ["person_id"]))
    write_identity_links(
        ctx,
        f"SELECT {lit(id_type)} AS left_type, person_id AS left_value, 'email' AS right_type, email AS right_value, "  # noqa: S608 - temp table, spec columns; values through lit
        f"{lit(source_system + ':contact')} AS source, created_at AS observed_at, _row AS _ord FROM {t.table}",
    )
    if lead_expr != "created_at":  # a lifecycle lead date: the creation date stands in where it is empty
        fallback = scalar(con, f"SELECT count(*) FROM {t.table} WHERE {lead_expr} IS NULL AND created_at IS NOT NULL")  # noqa: S608 - temp table, spec columns
        if fallback:
            ctx.report.notes.append(
                f"{ctx.path}: {fallback:,} contact(s) without a lead date ({_header(t, lead_expr)}): "
                f"lead stage dated by their creation date ({_header(t, 'created_at')})")
        lead_expr = f"coalesce({lead_expr}, created_at)"
    stages = {"lead": lead_expr, "mql": "mql_at", "sql": "sql_at"}
    _person_stage_events(ctx, t.table, stages, source_system)
    contact_touches(ctx, t.table, source_system)


LEAD_SPEC = {
    "person_id": F(required=REQ, unique=True), "email": F(), "first_name": F(), "last_name": F(), "title": F(),
    "company": F(), "status": F(), "lead_source": F(), "created_at": F("timestamp", REQ),
    "is_converted": F("bool"), "converted_at": F("timestamp"), "converted_contact_id": F(),
    "converted_account_id": F(), "converted_opportunity_id": F(), "mql_at": F("timestamp"), "sql_at": F("timestamp"),
}


def load_leads(ctx: Ctx, staged: Staged, aliases) -> None:
    """Leads into `people` (email lowercased), with their id<->email and conversion links, their
    lead/MQL/SQL stage events and their LeadSource touches."""
    t = _start(ctx, staged, "people", LEAD_SPEC, aliases, [BAD_EMAIL], extras=True)
    con = ctx.con
    con.execute(f"UPDATE {t.table} SET email = lower(email)")  # noqa: S608 - temp table, spec columns; values through lit
    sql = (
        f"SELECT person_id, NULL::VARCHAR AS account_id, email, first_name, last_name, title, created_at, "  # noqa: S608 - temp table, spec columns; values through lit
        f"'salesforce' AS source_system, {merged_columns('people', 'person_id')}, _row AS _ord FROM {t.table} x"
    )
    ctx.record("people", written=upsert(con, "people", sql, ["person_id"]))
    write_identity_links(
        ctx,
        f"SELECT 'crm_lead_id' AS left_type, person_id AS left_value, 'email' AS right_type, email AS right_value, "  # noqa: S608 - temp table, spec columns; values through lit
        f"'salesforce:lead' AS source, created_at AS observed_at, _row AS _ord FROM {t.table} "
        f"UNION ALL SELECT 'crm_lead_id', person_id, 'crm_contact_id', converted_contact_id, "
        f"'salesforce:lead_conversion', coalesce(converted_at, created_at), _row FROM {t.table}",
    )
    # a Salesforce Lead has no lifecycle date: it became a lead when it was created
    leads = scalar(con, f"SELECT count(*) FROM {t.table} WHERE created_at IS NOT NULL")  # noqa: S608 - temp table
    if leads:
        ctx.report.notes.append(f"{ctx.path}: lead stage of {leads:,} lead(s) dated by their creation date "
                                f"({_header(t, 'created_at')})")
    _person_stage_events(ctx, t.table, {"lead": "created_at", "mql": "mql_at", "sql": "sql_at"}, "salesforce")
    lead_touches(ctx, t.table)


DEFAULT_REVENUE_TYPE = "new_business"
"""The revenue type of a deal whose type is missing or maps to nothing: most CRMs leave the type
optional (HubSpot's "Deal Type"), and a deal without one dropping out of the default report was
worse than counting it as new business; the ingest summary and every report including such
deals say how many there are (opportunities.type_defaulted)."""


def _type_defaulted(expr: str, type_map) -> str:
    """SQL: the raw type is missing or unknown to the map (a value mapped to None on purpose is
    neither: it stays without a revenue type)."""
    unset = [k for k, v in type_map.items() if v is None]
    on_purpose = f" AND NOT coalesce({snake(expr)} IN ({', '.join(lit(k) for k in unset)}), false)" if unset else ""
    return f"({revenue_type_case(expr, type_map)} IS NULL{on_purpose})"


# What tells an ambiguous deal type (HubSpot existingbusiness) apart: its pipeline, then its name.
_HINTS = ["pipeline", "name"]


def _close_not_before_creation(ctx: Ctx, t) -> None:
    """A deal closes no earlier than it was created: durations (opportunity -> won, funnel
    velocity) cannot be negative.

    A close date without a time (Salesforce CloseDate is a date field; HubSpot exports often
    drop the time) is read as midnight, which on the creation day lies before a creation time
    of 10:30 (Olist: opportunity -> won came out -0.71 days). Such a date is compared at day
    resolution: on the creation day it means "closed that day", so the deal closes at its
    creation time. Why not end of day for every date-only close: that would move every close a
    day later and change which same-day touches count before it, on every store; this changes
    only the deals whose close came before their creation. A close on an earlier day than the
    creation contradicts the record: it is also set to the creation time, and counted apart."""
    same_day, earlier = one_row(
        ctx.con,
        f"SELECT count(*) FILTER (WHERE CAST(close_date AS DATE) = CAST(created_at AS DATE)), "  # noqa: S608 - temp table, spec columns
        f"count(*) FILTER (WHERE CAST(close_date AS DATE) < CAST(created_at AS DATE)) "
        f"FROM {t.table}_o WHERE closed AND close_date < created_at")
    if not same_day + earlier:
        return
    ctx.con.execute(f"UPDATE {t.table}_o SET close_date = created_at WHERE closed AND close_date < created_at")  # noqa: S608 - temp table
    close, created = _header(t, "close_date"), _header(t, "created_at")
    if same_day:
        ctx.report.notes.append(
            f"{ctx.path}: {same_day:,} deal(s) closed on the day they were created with a {close} before the "
            f"{created} time (a date without a time): compared by day, closed at their creation time")
    if earlier:
        ctx.report.notes.append(
            f"{ctx.path}: {earlier:,} deal(s) with a {close} before their {created} day: closed at their "
            f"creation time (check the export)")


def _header(t, name: str) -> str:
    """The file's header a typed field was read from (for summary lines)."""
    return t.headers.get(name, name)


OPPORTUNITY_SPEC = {
    "opportunity_id": F(required=REQ, unique=True), "account_id": F(column=True, instead="account_name"),
    "account_name": F(), "name": F(),
    "type_raw": F(), "stage": F(required=REQ), "amount": F("decimal", column=True), "currency": F(),
    "probability": F("double"), "created_at": F("timestamp", REQ),
    "close_date": F("timestamp"), "is_closed": F("bool"), "is_won": F("bool"), "campaign_id": F(),
    "lead_source": F(), "pipeline": F(),
}


def load_opportunities(ctx: Ctx, staged: Staged, aliases, source_system: str = "salesforce") -> None:
    """Opportunities by id: stage names made canonical, closed/won derived from the stage when the
    flags are absent, the raw Type mapped to a revenue type (unmapped values are reported)."""
    checks = [
        UNKNOWN_ACCOUNT, NEGATIVE_AMOUNT, BAD_CURRENCY,
        Check("probability", "probability < 0 OR probability > 100", "'probability out of range: ' || CAST(probability AS VARCHAR)"),
    ]
    # HubSpot keeps deal-company associations apart (API dumps have no company column): named
    # in the summary when absent, where a Salesforce Opportunity export without AccountId fails
    spec = OPPORTUNITY_SPEC if source_system == "salesforce" else {**OPPORTUNITY_SPEC, "account_id": F(instead="account_name")}
    t = _start(ctx, staged, "opportunities", spec, aliases, checks, extras=True)
    con = ctx.con
    stage = canon_stage("stage")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {t.table}_o AS SELECT *, {stage} AS stage_canon, "  # noqa: S608 - temp table, spec columns; values through lit
        f"coalesce(is_closed, {stage} IN ('won', 'lost')) AS closed, coalesce(is_won, {stage} = 'won') AS won "
        f"FROM {t.table}"
    )
    _close_not_before_creation(ctx, t)
    mapped, defaulted = revenue_type_sql('type_raw', ctx.type_map, _HINTS), _type_defaulted('type_raw', ctx.type_map)
    for raw, rtype, told, n in con.execute(
        f"SELECT type_raw, {mapped}, {type_hint_sql(_HINTS)} IS NOT NULL, count(*) FROM {t.table}_o "  # noqa: S608 - temp table, spec columns; values through lit
        f"WHERE {ambiguous_sql('type_raw')} GROUP BY ALL"
    ).fetchall():
        (ctx.report.hinted_types if told else ctx.report.assumed_types)[(raw, rtype)] += n
    for raw, n in con.execute(
        f"SELECT type_raw, count(*) FROM {t.table}_o WHERE {defaulted} GROUP BY 1"  # noqa: S608 - temp table, spec columns; values through lit
    ).fetchall():
        if raw is None:
            ctx.report.missing_types += n
        else:
            ctx.report.unmapped_types[raw] += n
    sql = (
        f"SELECT opportunity_id, account_id, name, CASE WHEN {defaulted} THEN {lit(DEFAULT_REVENUE_TYPE)} "  # noqa: S608 - temp table, spec columns; values through lit
        f"ELSE {mapped} END AS revenue_type, {defaulted} AS type_defaulted, "
        f"type_raw, stage, amount, upper(coalesce(currency, {_AMOUNT_CURRENCY}, 'USD')) AS currency, "
        f"CASE WHEN probability > 1 THEN probability / 100 ELSE probability END AS probability, created_at, "
        f"CASE WHEN closed THEN close_date END AS closed_at, closed AS is_closed, won AND closed AS is_won, "
        f"campaign_id, {lit(source_system)} AS source_system, {merged_columns('opportunities', 'opportunity_id')}, "
        f"_row AS _ord FROM {t.table}_o x"
    )
    ctx.record("opportunities", written=upsert(con, "opportunities", sql, ["opportunity_id"]))
    write_stage_events(
        ctx,
        f"SELECT 'opportunity' AS object_type, opportunity_id AS object_id, 'opportunity' AS stage, created_at AS entered_at, _row AS _ord FROM {t.table}_o "  # noqa: S608 - temp table, spec columns; values through lit
        f"UNION ALL SELECT 'opportunity', opportunity_id, CASE WHEN won THEN 'won' ELSE 'lost' END, "
        f"coalesce(close_date, created_at), _row FROM {t.table}_o WHERE closed",
        source_system, replace_slots=True,
    )
    opportunity_touches(ctx, t.table, source_system)
    con.execute(f"DROP TABLE {t.table}_o")


LINE_ITEM_SPEC = {"line_id": F(), "opportunity_id": F(required=REQ), "product": F(required=REQ),
                  "total_price": F("decimal")}


def load_line_items(ctx: Ctx, staged: Staged, aliases) -> None:
    """OpportunityLineItem -> the product dimension of its opportunity: the product of its line with
    the largest total price (ties: the first such line of the file), every product of the deal in its
    attributes (`products`). A line naming an opportunity not in the store is quarantined."""
    checks = [Check("opportunity_id", "opportunity_id NOT IN (SELECT opportunity_id FROM opportunities)",
                    "'unknown opportunity: ' || opportunity_id")]
    t = _start(ctx, staged, "opportunities", LINE_ITEM_SPEC, aliases, checks)
    con = ctx.con
    sql = (
        f"SELECT opportunity_id, arg_max(product, (coalesce(total_price, 0), -_row)) AS product, "  # noqa: S608 - temp table, spec columns
        f"string_agg(DISTINCT product, '; ' ORDER BY product) AS products FROM {t.table} GROUP BY 1"
    )
    n = scalar(con, f"SELECT count(*) FROM ({sql})")  # noqa: S608 - temp table, spec columns
    # a line whose opportunity already carries this product and these products changes nothing (a re-ingest)
    same = scalar(
        con,
        f"SELECT count(*) FROM {t.table} l JOIN ({sql}) p USING (opportunity_id) JOIN opportunities o USING (opportunity_id) "  # noqa: S608 - temp table, spec columns
        f"WHERE json_extract_string(o.dimensions, '$.product') IS NOT DISTINCT FROM p.product "
        f"AND json_extract_string(o.attributes, '$.products') IS NOT DISTINCT FROM p.products")
    con.execute(
        f"UPDATE opportunities o SET dimensions = json_merge_patch(coalesce(o.dimensions, '{{}}'), json_object('product', p.product)), "  # noqa: S608 - temp table, spec columns
        f"attributes = json_merge_patch(coalesce(o.attributes, '{{}}'), json_object('products', p.products)) "
        f"FROM ({sql}) p WHERE p.opportunity_id = o.opportunity_id"
    )
    lines = scalar(con, f"SELECT count(*) FROM {t.table}")  # noqa: S608 - temp table
    ctx.record("opportunities", written=Written(merged=same, updated=lines - same))
    ctx.report.notes.append(f"{ctx.path}: product dimension of {n:,} opportunit{'y' if n == 1 else 'ies'} from their "
                            f"line items ({_header(t, 'product')}; the line with the largest total price)")


OCR_SPEC = {"opportunity_id": F(required=REQ), "person_id": F(required=REQ), "role": F(), "is_primary": F("bool")}


def load_contact_roles(ctx: Ctx, staged: Staged, aliases) -> None:
    """Which person plays which role on an opportunity (OpportunityContactRole)."""
    t = _start(ctx, staged, "opportunity_contacts", OCR_SPEC, aliases)
    sql = f"SELECT opportunity_id, person_id, role, coalesce(is_primary, false) AS is_primary, _row AS _ord FROM {t.table}"  # noqa: S608 - temp table, spec columns; values through lit
    ctx.record("opportunity_contacts",
               written=upsert(ctx.con, "opportunity_contacts", sql, ["opportunity_id", "person_id"]))


HISTORY_SPEC = {"opportunity_id": F(required=REQ), "stage": F(required=REQ), "entered_at": F("timestamp", REQ)}


def load_opportunity_history(ctx: Ctx, staged: Staged, aliases) -> None:
    """One stage event per change of stage (consecutive rows in the same stage are one visit)."""
    t = _start(ctx, staged, "stage_events", HISTORY_SPEC, aliases)
    sql = (
        f"SELECT 'opportunity' AS object_type, opportunity_id AS object_id, stage, entered_at, _ord FROM ("  # noqa: S608 - temp table, spec columns; values through lit
        f" SELECT opportunity_id, {canon_stage('stage')} AS stage, entered_at, _row AS _ord, "
        f" lag({canon_stage('stage')}) OVER (PARTITION BY opportunity_id ORDER BY entered_at, _row) AS prev FROM {t.table}"
        f") WHERE prev IS NULL OR prev <> stage"
    )
    # a row in the stage of the row before it continues that visit: merged into its event
    visits = scalar(ctx.con, f"SELECT count(*) FROM ({sql})")  # noqa: S608 - temp table, spec columns
    ctx.record("stage_events", written=Written(merged=scalar(ctx.con, f"SELECT count(*) FROM {t.table}") - visits))  # noqa: S608 - temp table
    write_stage_events(ctx, sql, "salesforce:history", replace_slots=False)


CAMPAIGN_SPEC = {
    "campaign_id": F(required=REQ, unique=True), "name": F(), "campaign_type": F(), "parent_id": F(), "start_date": F("date"),
    "end_date": F("date"), "budgeted_cost": F("decimal"), "actual_cost": F("decimal"),
}


def load_campaigns(ctx: Ctx, staged: Staged, aliases) -> None:
    """Campaigns by id, each grouped into a channel by the channel rules."""
    checks = [Check("budgeted_cost", "budgeted_cost < 0", "'negative amount'"),
              Check("actual_cost", "actual_cost < 0", "'negative amount'")]
    t = _start(ctx, staged, "campaigns", CAMPAIGN_SPEC, aliases, checks)
    con = ctx.con
    sql = (
        f"SELECT campaign_id, name, {channel_case(campaign_type='campaign_type', rules=ctx.rules)} AS channel, "  # noqa: S608 - temp table, spec columns; values through lit
        f"campaign_type, parent_id, start_date, end_date, budgeted_cost, actual_cost, 'salesforce' AS source_system, "
        f"_row AS _ord FROM {t.table}"
    )
    other = scalar(con, f"SELECT count(*) FROM ({sql}) WHERE channel = 'other'")  # noqa: S608 - temp table, spec columns; values through lit
    if other:
        ctx.report.other_channel["campaigns"] += other
    ctx.record("campaigns", written=upsert(con, "campaigns", sql, ["campaign_id"]))


MEMBER_SPEC = {
    "member_id": F(required=REQ, unique=True), "campaign_id": F(required=REQ), "contact_id": F(), "lead_id": F(), "status": F(),
    "has_responded": F("bool"), "responded_at": F("timestamp"), "created_at": F("timestamp", REQ),
}


def load_campaign_members(ctx: Ctx, staged: Staged, aliases) -> None:
    """Campaign members as touches: dated when they responded, else when they were added."""
    checks = [Check("contact_id", "contact_id IS NULL AND lead_id IS NULL", "'missing ContactId and LeadId'")]
    t = _start(ctx, staged, "touchpoints", MEMBER_SPEC, aliases, checks)
    sql = (
        f"SELECT m.member_id AS touchpoint_id, "  # noqa: S608 - temp table, spec columns; values through lit
        f"CASE WHEN coalesce(m.has_responded, m.responded_at IS NOT NULL) AND m.responded_at IS NOT NULL "
        f"THEN m.responded_at ELSE m.created_at END AS occurred_at, "
        f"NULL::VARCHAR AS person_id, NULL::VARCHAR AS anonymous_id, NULL::VARCHAR AS account_id, "
        f"coalesce(c.channel, 'other') AS channel, NULL::VARCHAR AS source, NULL::VARCHAR AS medium, "
        f"m.campaign_id, 'campaign_member' AS touch_type, "
        f"coalesce(c.channel IN ('events', 'direct_mail', 'tv'), false) AS is_offline, 'salesforce' AS source_system, "
        f"m.member_id AS source_ref, CASE WHEN m.contact_id IS NOT NULL THEN 'crm_contact_id' ELSE 'crm_lead_id' END AS identity_type, "
        f"coalesce(m.contact_id, m.lead_id) AS identity_value, m._row AS _ord "
        f"FROM {t.table} m LEFT JOIN campaigns c ON c.campaign_id = m.campaign_id"
    )
    write_touchpoints(ctx, sql)


ACTIVITY_SPEC = {
    "activity_id": F(required=REQ, unique=True), "who_id": F(), "what_id": F(), "account_id": F(),
    "occurred_at": F("timestamp", REQ), "kind": F(), "subject": F(),
}


def load_activities(ctx: Ctx, staged: Staged, aliases, default_type: str) -> None:
    """Task/Event -> sales_outreach touches; the identity is read from the WhoId key prefix."""
    t = _start(ctx, staged, "touchpoints", ACTIVITY_SPEC, aliases)
    kind = snake("kind")
    touch = (
        f"CASE WHEN {kind} LIKE '%call%' THEN 'call' WHEN {kind} LIKE '%email%' THEN 'email' "
        f"WHEN {kind} LIKE '%meeting%' OR {kind} IN ('event', 'demo') THEN 'meeting' ELSE {lit(default_type)} END"
    )
    sql = (
        f"SELECT activity_id AS touchpoint_id, occurred_at, NULL::VARCHAR AS person_id, NULL::VARCHAR AS anonymous_id, "  # noqa: S608 - temp table, spec columns; values through lit
        f"coalesce(account_id, CASE WHEN starts_with(what_id, '001') THEN what_id END) AS account_id, "
        f"'sales_outreach' AS channel, NULL::VARCHAR AS source, NULL::VARCHAR AS medium, NULL::VARCHAR AS campaign_id, "
        f"touch_type, touch_type <> 'email' AS is_offline, 'salesforce' AS source_system, activity_id AS source_ref, "
        f"CASE WHEN starts_with(who_id, '003') THEN 'crm_contact_id' WHEN starts_with(who_id, '00Q') THEN 'crm_lead_id' END AS identity_type, "
        f"CASE WHEN starts_with(who_id, '003') OR starts_with(who_id, '00Q') THEN who_id END AS identity_value, _row AS _ord "
        f"FROM (SELECT *, {touch} AS touch_type FROM {t.table})"
    )
    write_touchpoints(ctx, sql)
