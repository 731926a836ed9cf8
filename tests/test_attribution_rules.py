"""Worked examples of the rule models, checked by hand, and the documented edge cases."""

from __future__ import annotations

import math

import pytest
from attribution_data import credits, ledger, make_store

from revline.attribution import MODELS, run_models
from revline.attribution.config import load_weights_file

# One account, two people. P1 becomes a lead on Jan 6; the opportunity is created Jan 15 and
# won Feb 15. Positions: t1 = FT, t2 = LC (last touch <= Jan 6), t3 in between,
# t4 = OC (last touch <= Jan 15), t5 = CW (last touch <= Feb 15). t6 comes after the win.
W5 = {
    "accounts": [{"account_id": "A1"}, {"account_id": "A2"}],
    "people": [
        {"person_id": "P1", "account_id": "A1"},
        {"person_id": "P2", "account_id": "A1"},
        {"person_id": "P3", "account_id": "A2"},
    ],
    "touchpoints": [
        {"touchpoint_id": "t1", "occurred_at": "2024-01-01", "person_id": "P1", "channel": "paid_search", "campaign_id": "c1"},
        {"touchpoint_id": "t2", "occurred_at": "2024-01-05", "person_id": "P1", "account_id": "A1", "channel": "email", "campaign_id": "c2"},
        {"touchpoint_id": "t3", "occurred_at": "2024-01-10", "person_id": "P2", "channel": "webinar", "campaign_id": "c3"},
        {"touchpoint_id": "t4", "occurred_at": "2024-01-14", "person_id": None, "account_id": "A1", "channel": "events"},
        {"touchpoint_id": "t5", "occurred_at": "2024-02-01", "person_id": "P1", "channel": "direct"},
        {"touchpoint_id": "t6", "occurred_at": "2024-03-01", "person_id": "P1", "channel": "direct"},
    ],
    "milestones": [
        {"object_type": "person", "object_id": "P1", "person_id": "P1", "account_id": "A1", "milestone": "lead", "occurred_at": "2024-01-06"},
    ],
    "opportunities": [
        {"opportunity_id": "O1", "account_id": "A1", "revenue_type": "new_business", "amount": 1000, "currency": "USD",
         "created_at": "2024-01-15", "closed_at": "2024-02-15", "is_closed": True, "is_won": True, "probability": 1.0},
        # A2 has no touch at all: must stay in the ledger as unattributed
        {"opportunity_id": "O2", "account_id": "A2", "revenue_type": "new_business", "amount": 500, "currency": "EUR",
         "created_at": "2024-01-15", "closed_at": "2024-02-15", "is_closed": True, "is_won": True, "probability": 1.0},
    ],
    "opportunity_contacts": [{"opportunity_id": "O1", "person_id": "P1", "role": "Decision Maker", "is_primary": True}],
}


@pytest.fixture
def w5():
    con = make_store(W5)
    yield con
    con.close()


def approx(d: dict) -> dict:
    return {k: pytest.approx(v, abs=1e-9) for k, v in d.items()}


def test_w_shaped_five_touches_by_hand(w5):
    run_models(w5, ["w_shaped"], ["won"], ["new_business"])
    assert credits(w5, "w_shaped")["O1"] == approx({"t1": 0.3, "t2": 0.3, "t3": 0.05, "t4": 0.3, "t5": 0.05})
    rows = ledger(w5, "w_shaped").set_index("touchpoint_id")
    assert rows.loc["t1", "touch_position"] == "FT"
    assert rows.loc["t4", "touch_position"] == "OC"
    assert rows.loc["t4", "revenue_credit"] == pytest.approx(300.0)


def test_full_path_u_first_last_linear_by_hand(w5):
    run_models(w5, ["full_path", "u_shaped", "first_touch", "lead_creation", "last_touch", "linear"], ["won"], ["new_business"])
    assert credits(w5, "full_path")["O1"] == approx({"t1": 0.225, "t2": 0.225, "t3": 0.1, "t4": 0.225, "t5": 0.225})
    third = 0.2 / 3
    assert credits(w5, "u_shaped")["O1"] == approx({"t1": 0.4, "t2": 0.4, "t3": third, "t4": third, "t5": third})
    assert credits(w5, "first_touch")["O1"] == {"t1": 1.0}
    assert credits(w5, "lead_creation")["O1"] == {"t2": 1.0}
    assert credits(w5, "last_touch")["O1"] == {"t5": 1.0}
    assert credits(w5, "linear")["O1"] == approx({t: 0.2 for t in ("t1", "t2", "t3", "t4", "t5")})


def test_time_decay_halves_every_half_life(w5):
    run_models(w5, ["time_decay"], ["won"], ["new_business"], half_life_days=7.0)
    ages = {"t1": 45, "t2": 41, "t3": 36, "t4": 32, "t5": 14}  # days before Feb 15
    raw = {t: 2 ** (-a / 7.0) for t, a in ages.items()}
    total = sum(raw.values())
    assert credits(w5, "time_decay")["O1"] == approx({t: w / total for t, w in raw.items()})


def test_opportunity_milestone_redistributes_absent_cw(w5):
    # At opportunity creation (Jan 15) t5 is not eligible and CW does not exist: the Z weights
    # present (3 x 22.5 + 10 other) are renormalised to 1.
    run_models(w5, ["full_path", "w_shaped"], ["opportunity"], ["new_business"])
    z = 0.225 / 0.775
    assert credits(w5, "full_path", "opportunity")["O1"] == approx({"t1": z, "t2": z, "t3": 0.1 / 0.775, "t4": z})
    assert credits(w5, "w_shaped", "opportunity")["O1"] == approx({"t1": 0.3, "t2": 0.3, "t3": 0.1, "t4": 0.3})


def test_unattributed_conversion_is_kept_with_its_revenue(w5):
    run_models(w5, ["linear"], ["won"], ["new_business"])
    rows = ledger(w5, "linear")
    o2 = rows[rows.conversion_id == "O2"]
    assert len(o2) == 1
    assert o2.touchpoint_id.isna().all()
    assert o2.channel.iloc[0] == "(unattributed)"
    assert o2.credit.iloc[0] == 1.0
    assert o2.revenue_credit.iloc[0] == pytest.approx(500 * 1.08)  # EUR at the fixed rate
    run = w5.execute("SELECT opportunities, unattributed FROM attribution_runs").fetchone()
    assert run == (2, 1)


def test_lookback_limits_eligible_touches(w5):
    run_models(w5, ["linear", "w_shaped"], ["won"], ["new_business"], lookback_days=20)
    assert credits(w5, "linear")["O1"] == {"t5": 1.0}
    assert credits(w5, "w_shaped")["O1"] == {"t5": pytest.approx(1.0)}


def test_contact_roles_scope_uses_only_role_people(w5):
    run_models(w5, ["linear"], ["won"], ["new_business"], scope="contact_roles")
    # P2's webinar and the account-level event touch are not the contact role's touches
    assert credits(w5, "linear")["O1"] == approx({"t1": 1 / 3, "t2": 1 / 3, "t5": 1 / 3})


def test_lead_milestone_person_and_account_scope(w5):
    run_models(w5, ["u_shaped", "last_touch"], ["lead"], scope="person")
    # lead Jan 6: t1 (FT) and t2 (LC = last) with no middle -> 40/20/40 becomes 50/50
    assert credits(w5, "u_shaped", "lead") == {"P1": approx({"t1": 0.5, "t2": 0.5})}
    rows = ledger(w5, "u_shaped", "lead")
    assert set(rows.conversion_type) == {"person"}
    assert (rows.revenue_credit == 0).all()
    run_models(w5, ["linear"], ["lead"], scope="account")
    rows = ledger(w5, "linear", "lead")
    assert set(rows.conversion_type) == {"account"} and set(rows.conversion_id) == {"A1"}
    assert set(rows.touchpoint_id) == {"t1", "t2"}


def test_coinciding_positions_sum_their_weights():
    con = make_store({
        "people": [{"person_id": "P", "account_id": "A"}],
        "touchpoints": [
            {"touchpoint_id": "a", "occurred_at": "2024-01-01", "person_id": "P", "channel": "email"},
            {"touchpoint_id": "b", "occurred_at": "2024-01-03", "person_id": "P", "channel": "webinar"},
            {"touchpoint_id": "c", "occurred_at": "2024-01-04", "person_id": "P", "channel": "events"},
            {"touchpoint_id": "d", "occurred_at": "2024-01-09", "person_id": "P", "channel": "direct"},
        ],
        "milestones": [{"object_type": "person", "object_id": "P", "milestone": "lead", "occurred_at": "2024-01-02"}],
        "opportunities": [{"opportunity_id": "O", "account_id": "A", "revenue_type": "new_business", "amount": 100,
                           "created_at": "2024-01-05", "closed_at": "2024-01-10", "is_closed": True, "is_won": True}],
    })
    run_models(con, ["w_shaped"], ["won"], ["new_business"])
    # a is FT and LC (60%), c is OC (30%), b and d share the 10%
    assert credits(con, "w_shaped")["O"] == approx({"a": 0.6, "b": 0.05, "c": 0.3, "d": 0.05})
    assert ledger(con, "w_shaped").set_index("touchpoint_id").loc["a", "touch_position"] == "FT+LC"


def test_single_touch_gets_everything_and_missing_lc_falls_back_to_linear():
    con = make_store({
        "people": [{"person_id": "P", "account_id": "A"}, {"person_id": "Q", "account_id": "B"}],
        "touchpoints": [
            {"touchpoint_id": "x", "occurred_at": "2024-01-01", "person_id": "P", "channel": "email"},
            {"touchpoint_id": "y1", "occurred_at": "2024-01-01", "person_id": "Q", "channel": "email"},
            {"touchpoint_id": "y2", "occurred_at": "2024-01-02", "person_id": "Q", "channel": "events"},
        ],
        "opportunities": [
            {"opportunity_id": "OA", "account_id": "A", "revenue_type": "new_business", "amount": 10,
             "created_at": "2024-01-05", "closed_at": "2024-01-10", "is_closed": True, "is_won": True},
            {"opportunity_id": "OB", "account_id": "B", "revenue_type": "new_business", "amount": 10,
             "created_at": "2024-01-05", "closed_at": "2024-01-10", "is_closed": True, "is_won": True},
        ],
    })
    run_models(con, ["w_shaped", "full_path", "lead_creation", "time_decay"], ["won"], ["new_business"])
    for m in ("w_shaped", "full_path", "lead_creation", "time_decay"):
        assert credits(con, m)["OA"] == {"x": pytest.approx(1.0)}
    # no lead milestone at all: lead_creation has no position present -> equal split
    assert credits(con, "lead_creation")["OB"] == approx({"y1": 0.5, "y2": 0.5})


def test_ties_in_time_broken_by_touchpoint_id():
    con = make_store({
        "people": [{"person_id": "P", "account_id": "A"}],
        "touchpoints": [
            {"touchpoint_id": "tb", "occurred_at": "2024-01-01", "person_id": "P", "channel": "email"},
            {"touchpoint_id": "ta", "occurred_at": "2024-01-01", "person_id": "P", "channel": "events"},
        ],
        "opportunities": [{"opportunity_id": "O", "account_id": "A", "revenue_type": "new_business", "amount": 1,
                           "created_at": "2024-01-05", "closed_at": "2024-01-10", "is_closed": True, "is_won": True}],
    })
    run_models(con, ["first_touch", "last_touch"], ["won"], ["new_business"])
    assert credits(con, "first_touch")["O"] == {"ta": 1.0}
    assert credits(con, "last_touch")["O"] == {"tb": 1.0}


def test_revenue_types_separate_and_all(w5):
    w5.execute("""INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, created_at,
                  closed_at, is_closed, is_won) VALUES ('R1', 'A1', 'renewal', 200, 'USD', '2024-02-20', '2024-02-25', TRUE, TRUE)""")
    run_models(w5, ["linear"], ["won"])
    by_type = {rt: set(ledger(w5, "linear", "won", rt).conversion_id) for rt in ("new_business", "renewal", "expansion", "all")}
    assert by_type == {"new_business": {"O1", "O2"}, "renewal": {"R1"}, "expansion": set(), "all": {"O1", "O2", "R1"}}
    assert w5.execute("SELECT count(*) FROM attribution_runs WHERE milestone = 'won'").fetchone()[0] == 4


def test_weighted_pipeline_stays_fractional(w5):
    w5.execute("UPDATE opportunities SET probability = 0.25, is_won = FALSE, is_closed = FALSE WHERE opportunity_id = 'O1'")
    run_models(w5, ["linear"], ["opportunity"], ["new_business"], weighted=True)
    rows = ledger(w5, "linear", "opportunity")
    o1 = rows[rows.conversion_id == "O1"]
    assert o1.credit.sum() == pytest.approx(1.0)
    assert o1.revenue_credit.sum() == pytest.approx(250.0)


def test_weighted_needs_probability_of_open_opportunities(w5):
    w5.execute("UPDATE opportunities SET probability = NULL, is_won = FALSE, is_closed = FALSE WHERE opportunity_id = 'O1'")
    with pytest.raises(ValueError, match="probability.*O1"):
        run_models(w5, ["linear"], ["opportunity"], ["new_business"], weighted=True)


def test_unknown_currency_is_a_clear_error(w5):
    w5.execute("UPDATE opportunities SET currency = 'XAU' WHERE opportunity_id = 'O2'")
    with pytest.raises(ValueError, match=r"opportunities.*currency.*O2"):
        run_models(w5, ["linear"], ["won"], ["new_business"])


def test_bad_arguments_are_named(w5):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        run_models(w5, ["nope"])
    with pytest.raises(ValueError, match="unknown milestone"):
        run_models(w5, ["linear"], ["closed"])
    with pytest.raises(ValueError, match="unknown scope"):
        run_models(w5, ["linear"], ["won"], scope="team")
    with pytest.raises(ValueError, match="half_life"):
        run_models(w5, ["time_decay"], ["won"], half_life_days=0)


def test_custom_weights_from_toml_and_yaml(w5, tmp_path):
    toml = tmp_path / "w.toml"
    toml.write_text("[heavy_oc]\nFT = 10\nOC = 60\nother = 30\n")
    run_models(w5, ["heavy_oc"], ["won"], ["new_business"], config=toml)
    # FT 10, OC 60, other 30 over t2, t3, t5 (LC and CW carry no weight here)
    assert credits(w5, "heavy_oc")["O1"] == approx({"t1": 0.1, "t4": 0.6, "t2": 0.1, "t3": 0.1, "t5": 0.1})
    yml = tmp_path / "w.yaml"
    yml.write_text("first_touch: 50\nlead_creation: 50\n")
    assert set(load_weights_file(yml)) == {"custom"}
    run_models(w5, None, ["won"], ["new_business"], config=yml)
    assert credits(w5, "custom")["O1"] == approx({"t1": 0.5, "t2": 0.5})
    bad = tmp_path / "bad.toml"
    bad.write_text("FT = 40\nXX = 3\n")
    with pytest.raises(ValueError, match="bad.toml.*unknown position 'XX'"):
        load_weights_file(bad)
    neg = tmp_path / "neg.toml"
    neg.write_text("FT = -1\n")
    with pytest.raises(ValueError, match="neg.toml"):
        load_weights_file(neg)


def test_stage_events_feed_lead_milestones():
    con = make_store({
        "people": [{"person_id": "P", "account_id": "A"}],
        "touchpoints": [
            {"touchpoint_id": "a", "occurred_at": "2024-01-01", "person_id": "P", "channel": "email"},
            {"touchpoint_id": "b", "occurred_at": "2024-01-03", "person_id": "P", "channel": "webinar"},
        ],
        "stage_events": [
            {"object_type": "person", "object_id": "P", "stage": "lead", "entered_at": "2024-01-02"},
            {"object_type": "person", "object_id": "P", "stage": "mql", "entered_at": "2024-01-04"},
        ],
    })
    run_models(con, ["lead_creation", "last_touch"], ["mql"], scope="person")
    assert credits(con, "lead_creation", "mql") == {"P": {"a": 1.0}}
    assert credits(con, "last_touch", "mql") == {"P": {"b": 1.0}}


def test_registry_runs_rule_models(w5):
    assert {"first_touch", "w_shaped", "full_path", "time_decay"} <= set(MODELS)
    ids = MODELS["linear"](w5, milestones=["won"], revenue_types=["new_business"])
    assert len(ids) == 1 and ids[0].startswith("linear-")
    assert math.isclose(ledger(w5, "linear").credit.sum(), 2.0)


def test_the_target_is_checked_once_and_names_what_is_wrong():
    from dataclasses import FrozenInstanceError

    from revline.attribution.eligibility import Target

    with pytest.raises(ValueError, match="unknown milestone 'closed'"):
        Target("closed")
    with pytest.raises(ValueError, match="unknown scope 'team'"):
        Target("won", scope="team")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lookback_days must be >= 0"):
        Target("won", lookback_days=-1)
    t = Target("opportunity", "renewal", "person", 30.0, True)
    assert t.params() == {"scope": "person", "lookback_days": 30.0, "weighted": True}
    with pytest.raises(FrozenInstanceError):
        t.milestone = "won"  # type: ignore[misc]
