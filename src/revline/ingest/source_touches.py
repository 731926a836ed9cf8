"""CRM source fields -> touchpoints: what a CRM-only company knows about where people came from.

touch_type names the field a touch came from:
  crm_lead_source          Salesforce LeadSource of a Lead, Contact or Opportunity (Fivetran
                           lead_source), timed at the record's CreatedDate
  hubspot_original_source  HubSpot contact "Original Source" (hs_analytics_source); drill-down 1
                           -> source, drill-down 2 -> medium; timed at "Time First Seen", else
                           the contact's Create Date
  hubspot_latest_source    "Latest Source" (hs_latest_source) at "Latest Source Timestamp"; only
                           when that date is later than the original source's (a later event)
  campaign_member          CampaignMember rows (crm.load_campaign_members)
The channel comes from the same rules as every touch (channel_rules.toml, the `lead_source`
condition; the value itself is also tried as a utm source).

One touch per person per source event. A Lead's LeadSource and the LeadSource of the Contact it
converted into describe the same first touch: both get the id crm_lead_source:<contact id>, and
the Lead's (earlier, at lead creation) wins whichever file is loaded first. An Opportunity's
LeadSource is an account-level touch (at the opportunity's creation) unless a lead or contact of
the same account already carries the same source at or before that time, in which case it is the
same event and is not repeated (either load order; the merges are reported in the notes).
"""

from __future__ import annotations

from revline.ingest.channels import channel_inputs, channel_sql
from revline.ingest.context import Ctx
from revline.ingest.sqlfrag import lit
from revline.ingest.writers import write_touchpoints
from revline.store.rows import scalar

LEAD_SOURCE = "crm_lead_source"
HS_ORIGINAL = "hubspot_original_source"
HS_LATEST = "hubspot_latest_source"
OFFLINE_CHANNELS = ("events", "direct_mail", "tv")
_SAME_SOURCE = "lower(trim(p.source)) = lower(trim(o.source))"


def _write(ctx: Ctx, rows_sql: str) -> None:
    """`rows_sql` yields touchpoint_id, occurred_at, account_id, lead_source (the field's value),
    source, medium, touch_type, source_system, source_ref, identity_type, identity_value, _ord.
    Rows without a value or a time are no touch (nothing happened that the CRM could date)."""
    offline = ", ".join(lit(c) for c in OFFLINE_CHANNELS)
    sql = (
        f"SELECT touchpoint_id, occurred_at, NULL::VARCHAR AS person_id, NULL::VARCHAR AS anonymous_id, account_id, "
        f"channel, source, medium, NULL::VARCHAR AS campaign_id, touch_type, channel IN ({offline}) AS is_offline, "
        f"source_system, source_ref, identity_type, identity_value, _ord FROM ("
        f" SELECT *, {channel_sql(ctx.rules)} AS channel FROM ("
        f"  SELECT *, {channel_inputs(source='source', lead_source='lead_source')} FROM ({rows_sql})"
        f"  WHERE nullif(trim(lead_source), '') IS NOT NULL AND occurred_at IS NOT NULL))"
    )
    write_touchpoints(ctx, sql)


def _merge_opportunity_touches(ctx: Ctx) -> None:
    """Drop opportunity-level LeadSource touches that a person's touch of the same account, value
    and no later time already states (the same source event)."""
    cond = (
        f"FROM touchpoints o WHERE o.touch_type = {lit(LEAD_SOURCE)} AND o.source_system LIKE '%:opportunity' "
        f"AND EXISTS (SELECT 1 FROM touchpoints p WHERE p.touch_type = {lit(LEAD_SOURCE)} "
        f"AND p.source_system NOT LIKE '%:opportunity' AND p.account_id = o.account_id AND {_SAME_SOURCE} "
        f"AND p.occurred_at <= o.occurred_at)"
    )
    n = scalar(ctx.con, f"SELECT count(*) {cond}")
    if n:
        ctx.con.execute(f"DELETE {cond}")
        ctx.report.notes.append(f"{ctx.path}: {n} opportunity LeadSource touch(es) merged into the lead's or "
                                f"contact's touch of the same source (one touch per source event)")


def lead_touches(ctx: Ctx, typed: str) -> None:
    """Lead.LeadSource -> one touch per lead, keyed by the contact it converted into if any."""
    if not _has(ctx, typed, "lead_source"):
        return
    con = ctx.con
    # a lead that converted since an earlier load: its touch moves to the contact's id
    moved = scalar(
        con,
        f"SELECT count(*) FROM touchpoints WHERE touch_type = {lit(LEAD_SOURCE)} AND touchpoint_id IN "
        f"(SELECT {lit(LEAD_SOURCE + ':')} || person_id FROM {typed} WHERE converted_contact_id IS NOT NULL)",
    )
    if moved:
        con.execute(
            f"DELETE FROM touchpoints WHERE touch_type = {lit(LEAD_SOURCE)} AND touchpoint_id IN "
            f"(SELECT {lit(LEAD_SOURCE + ':')} || person_id FROM {typed} WHERE converted_contact_id IS NOT NULL)"
        )
    _write(ctx, (
        f"SELECT {lit(LEAD_SOURCE + ':')} || coalesce(converted_contact_id, person_id) AS touchpoint_id, "
        f"created_at AS occurred_at, converted_account_id AS account_id, lead_source, lead_source AS source, "
        f"NULL::VARCHAR AS medium, {lit(LEAD_SOURCE)} AS touch_type, 'salesforce:lead' AS source_system, "
        f"person_id AS source_ref, 'crm_lead_id' AS identity_type, person_id AS identity_value, _row AS _ord FROM {typed}"
    ))
    _merge_opportunity_touches(ctx)


def contact_touches(ctx: Ctx, typed: str, source_system: str) -> None:
    """Contact.LeadSource (Salesforce) and HubSpot Original/Latest Source -> touches."""
    if _has(ctx, typed, "lead_source"):
        _write(ctx, (
            f"SELECT {lit(LEAD_SOURCE + ':')} || person_id AS touchpoint_id, created_at AS occurred_at, account_id, "
            f"lead_source, lead_source AS source, NULL::VARCHAR AS medium, {lit(LEAD_SOURCE)} AS touch_type, "
            f"{lit(source_system + ':contact')} AS source_system, person_id AS source_ref, "
            f"'crm_contact_id' AS identity_type, person_id AS identity_value, _row AS _ord FROM {typed} c "
            # the converted lead's touch is the same event, earlier: it stays
            f"WHERE NOT EXISTS (SELECT 1 FROM touchpoints t WHERE t.touchpoint_id = {lit(LEAD_SOURCE + ':')} || c.person_id "
            f"AND t.source_system = 'salesforce:lead')"
        ))
        _merge_opportunity_touches(ctx)
    if _has(ctx, typed, "original_source"):
        first = "coalesce(first_seen_at, created_at)" if _has(ctx, typed, "first_seen_at") else "created_at"
        _write(ctx, (
            f"SELECT {lit(HS_ORIGINAL + ':')} || person_id AS touchpoint_id, {first} AS occurred_at, account_id, "
            f"original_source AS lead_source, {_col(ctx, typed, 'original_source_1')} AS source, "
            f"{_col(ctx, typed, 'original_source_2')} AS medium, {lit(HS_ORIGINAL)} AS touch_type, "
            f"{lit(source_system + ':contact')} AS source_system, person_id AS source_ref, "
            f"'crm_contact_id' AS identity_type, person_id AS identity_value, _row AS _ord FROM {typed}"
        ))
        if _has(ctx, typed, "latest_source") and _has(ctx, typed, "latest_source_at"):
            _write(ctx, (
                f"SELECT {lit(HS_LATEST + ':')} || person_id AS touchpoint_id, latest_source_at AS occurred_at, account_id, "
                f"latest_source AS lead_source, {_col(ctx, typed, 'latest_source_1')} AS source, "
                f"{_col(ctx, typed, 'latest_source_2')} AS medium, {lit(HS_LATEST)} AS touch_type, "
                f"{lit(source_system + ':contact')} AS source_system, person_id AS source_ref, "
                f"'crm_contact_id' AS identity_type, person_id AS identity_value, _row AS _ord FROM {typed} "
                f"WHERE latest_source_at > {first}"
            ))


def opportunity_touches(ctx: Ctx, typed: str, source_system: str) -> None:
    """Opportunity.LeadSource -> an account-level touch, unless a person's touch already states it."""
    if not _has(ctx, typed, "lead_source"):
        return
    con = ctx.con
    same = (
        f"EXISTS (SELECT 1 FROM touchpoints p WHERE p.touch_type = {lit(LEAD_SOURCE)} "
        f"AND p.source_system NOT LIKE '%:opportunity' AND p.account_id = o.account_id AND {_SAME_SOURCE} "
        f"AND p.occurred_at <= o.occurred_at)"
    )
    rows = (
        f"SELECT {lit(LEAD_SOURCE + ':')} || opportunity_id AS touchpoint_id, created_at AS occurred_at, account_id, "
        f"lead_source, lead_source AS source, NULL::VARCHAR AS medium, {lit(LEAD_SOURCE)} AS touch_type, "
        f"{lit(source_system + ':opportunity')} AS source_system, opportunity_id AS source_ref, "
        f"NULL::VARCHAR AS identity_type, NULL::VARCHAR AS identity_value, _row AS _ord FROM {typed} "
        f"WHERE account_id IS NOT NULL AND nullif(trim(lead_source), '') IS NOT NULL"
    )
    merged = scalar(con, f"SELECT count(*) FROM ({rows}) o WHERE {same}")
    if merged:
        ctx.report.notes.append(f"{ctx.path}: {merged} opportunity LeadSource value(s) are the lead's or contact's "
                                f"touch of the same source (one touch per source event)")
        con.execute(
            f"DELETE FROM touchpoints WHERE touchpoint_id IN (SELECT o.touchpoint_id FROM ({rows}) o WHERE {same})"
        )
    _write(ctx, f"SELECT * FROM ({rows}) o WHERE NOT {same}")


def _has(ctx: Ctx, typed: str, column: str) -> bool:
    return bool(scalar(ctx.con, "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
                       [typed, column]))


def _col(ctx: Ctx, typed: str, column: str) -> str:
    return column if _has(ctx, typed, column) else "NULL::VARCHAR"
