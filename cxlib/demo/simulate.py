"""The demo client: a synthetic telecom provider with planted, known ground truth.

:func:`simulate_demo` builds the world (customers, journeys, events, surveys, churn) and
its truth; :mod:`cxlib.demo.export` writes it in the client's own formats.
``data/demo/client.yml`` maps the files.

Everything is vectorised over customers and journeys (no Python loops over
customers), so the same generator makes the 10M-event benchmark log. All
randomness flows from one seed: the same arguments give byte-identical files.

Planted (see ``PLANTED``):

* ``new_install``: a back-office order error makes the first technician visit fail;
  the back office corrects the order ("Order corrected") and the visit is rescheduled;
  those journeys score 1-3, the rest 8-9 (bimodal); a third of
  failed installs cancel within 90 days.
* ``move``: 16-22 touchpoints over 9 departments; touchpoint CSAT mostly >= 4 but
  journey NPS poor (the watermelon); 40% of moves that went wrong churn. Moves that go
  wrong lack the back-office work step "Billing address updated" (the cause); the customer's
  bill complaint follows (the symptom). Every move has two appointment reminders (the
  second by SMS): a repeated notification, which is not rework.
* ``repair``, ``billing_dispute``, ``onboarding``; relationship NPS is built from
  journey scores with known weights plus noise.
* Contacts: avoidable contacts (repeats, status chasing, failure demand), a
  self-service success rate per reason x segment, three poor agents, channel costs,
  and about 10% unprofitable customers.
* Event semantics: every event says what it is (contact, notification, work step, bill,
  visit) and who started it (:data:`COMPANY_EVENTS`).
* Dirt: duplicates, bad timestamps, missing ids, unknown ids, out-of-range scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxlib.core.config import DEFAULT_SEED

TZ = "Europe/Amsterdam"
START = pd.Timestamp("2025-01-01", tz=TZ)
LAST_JOURNEY_START = pd.Timestamp("2025-10-31", tz=TZ)
EXTRACT = pd.Timestamp("2026-03-31", tz=TZ)   # the client's extract date (config as_of)

CHANNEL_LABELS = {"call": "Phone", "ivr": "IVR", "web": "Web", "app": "App", "chat": "Chat",
                  "email": "E-mail", "store": "Shop", "field_visit": "Engineer", "bill": "Bill", "sms": "SMS",
                  "other": "Internal"}
OUTCOME_LABELS = {"resolved": "Resolved", "unresolved": "Not resolved", "transferred": "Transferred",
                  "failed": "Failed", "completed": "Completed", "abandoned": "Abandoned",
                  "issued": "Issued", "incorrect": "Incorrect"}
RECORD_TYPE_LABELS = {"contact": "Contact", "notification": "Notification", "work_step": "Task", "bill": "Bill",
                      "visit": "Visit"}
DIRECTION_LABELS = {"customer": "Inbound", "company": "Outbound", "system": "Automatic"}
COST_PER_CONTACT = {"call": 5.5, "ivr": 0.4, "web": 0.1, "app": 0.1, "chat": 2.8, "email": 1.5,
                    "store": 9.0, "field_visit": 65.0, "bill": 0.6, "sms": 0.05, "other": 0.0}
SERVICE_COST_MONTHLY = 14.0

PLANTED = {
    "new_customer_share": 0.15,
    "install_order_error_rate": 0.25,
    "install_score_failed": [1, 3],
    "install_score_ok": [8, 9],
    "install_failed_churn_90d": 1 / 3,
    "move_share": 0.08,
    "move_wrong_rate": 0.35,
    "move_wrong_churn_90d": 0.40,
    "move_ok_churn_90d": 0.06,
    "move_touchpoints": [16, 22],
    # wrong moves lack the back-office step that puts the new address on the billing account: the
    # cause of their incorrect first bill (the bill complaint that follows is the symptom)
    "move_missing_step": "Billing address updated",
    "move_touchpoint_csat_green_p": 0.85,
    "repair_share": 0.22,
    "repair_not_first_time_rate": 0.25,
    "repair_not_first_time_churn_90d": 0.12,
    "billing_dispute_share": 0.09,
    "billing_unresolved_first_rate": 0.30,
    "billing_unresolved_churn_90d": 0.15,
    "journey_ok_churn_90d": 0.05,
    "baseline_annual_churn": {"residential": 0.07, "business": 0.04},
    "basic_plan_churn_multiplier": 1.5,
    "relationship_nps": {
        "intercept": 7.0,
        "weights": {"new_install": 0.35, "move": 0.30, "repair": 0.25, "billing_dispute": 0.30,
                    "onboarding": 0.15},
        "noise_sd": 1.0,
        # relationship-survey attribute ratings (1-5), round(N(3.9, 0.8)) clipped: mostly green; each adds
        # effect * (rating - 3.9) to the latent relationship NPS
        "attribute_mean": 3.9, "attribute_sd": 0.8,
        "attribute_effects": {"Phone support": 0.35, "App and website": 0.20, "Technicians": 0.10, "Bills": 0.05},
        "response_rate": 0.45,
        "osat_not_answered": 0.10,
    },
    "n_agents": 60,
    "agent_fcr": 0.88,
    "repeat_after_unresolved": 0.6,
    "poor_agent_fcr": 0.55,
    "agent_handle_time_s": 420,
    "poor_agent_handle_time_s": 780,
    "self_service_success": {
        "payment": {"residential": 0.90, "business": 0.80},
        "usage_query": {"residential": 0.85, "business": 0.75},
        "change_plan": {"residential": 0.60, "business": 0.40},
        "contract_info": {"residential": 0.45, "business": 0.30},
    },
    "heavy_user_share": 0.12,
    "cost_per_contact": COST_PER_CONTACT,
    "service_cost_monthly": SERVICE_COST_MONTHLY,
    # a fix halfway through: from this date the move is confirmed by customer service and the
    # installation scheduled by sales on the same call (two handoffs fewer), and a move that goes
    # right scores a point higher; no other journey changes (05_management tracks it)
    "move_fix": {"date": "2025-06-01", "departments": {"Move confirmation": "Customer service",
                                                       "Installation scheduled": "Sales"},
                 "score_lift_ok": 1},
    # a staff pulse survey: the back office says information from sales is incomplete (the cause of
    # the install journey's order errors, fixed by the back office step 'Order corrected')
    "staff_pulse": {"barrier": "Information from sales is incomplete", "department": "Back office",
                    "journey": "new_install", "agree_p": 0.8, "base_agree_p": 0.25},
    # the CRM's consent to be contacted (the call-back list of 05_management lists only 'Yes')
    "callbacks": {"consent_yes": 0.6, "consent_blank": 0.05},
}

RELATIONSHIP_JOURNEY_QUESTIONS = {
    "new_install": "How was your installation? (0-10, blank = not applicable)",
    "move": "How was your move? (0-10, blank = not applicable)",
    "repair": "How was the repair of your fault? (0-10, blank = not applicable)",
    "billing_dispute": "How was the handling of your billing query? (0-10, blank = not applicable)",
    "onboarding": "How were your first weeks with us? (0-10, blank = not applicable)",
}
RELATIONSHIP_ATTRIBUTE_QUESTIONS = {
    "Phone support": "Phone support (1-5)", "App and website": "App and website (1-5)",
    "Technicians": "Technicians (1-5)", "Bills": "Bills (1-5)",
}

POPULATION_SAMPLE = {"n_customers": 400_000, "seed": 2024}
POPULATION_DRIVER_SHARES = {   # tools/population_driver_shares.py on POPULATION_SAMPLE
    "journey: new_install": 0.2925, "touchpoint: Phone support": 0.2667, "journey: repair": 0.1291,
    "journey: billing_dispute": 0.0955, "journey: move": 0.0869, "touchpoint: App and website": 0.0844,
    "touchpoint: Technicians": 0.0228, "journey: onboarding": 0.0161, "touchpoint: Bills": 0.0060,
}
"""Shapley shares of the relationship-NPS drivers on the generating model (see
:func:`population_driver_shares`); truth.json records them under ``drivers``."""

PLANTED_BELIEFS = {   # the demo's client.yml lists these as analysis.hypotheses (a test keeps the two equal)
    "install_quarter_unhappy": {"measure": "journey_dissatisfied_share", "journey": "new_install",
                                "believed": 0.25, "direction": "about"},
    "movers_forty_percent_leave": {"measure": "churn_after_journey", "journey": "move",
                                   "believed": 0.40, "direction": "about"},
    "install_drives_nps": {"measure": "driver_share", "driver": "journey: new_install",
                           "believed": 0.20, "direction": "at_least"},
    "onboarding_drives_nps": {"measure": "driver_share", "driver": "journey: onboarding",
                              "believed": 0.20, "direction": "at_least"},
}
"""Four workshop beliefs: two true of the generating model, two false (truth.json ``beliefs``)."""

PLANTED_BENCHMARKS = {   # the demo's client.yml lists these as analysis.benchmarks
    "avoidable_share": {"value": 0.125, "lo": 0.10, "hi": 0.15},         # the typical 10-15%
    "churn_reason_share: Staff attitude": {"value": 0.68},                # the classic breakdown
    "churn_reason_share: Competition": {"value": 0.09},
}

DEPARTMENTS = ["Sales", "Back office", "Planning", "Field services", "Provisioning", "Customer service",
               "Technical support", "Billing", "Logistics", "Marketing", "Digital", "Retention", "Complaints"]


COMPANY_EVENTS = {
    "Order confirmation": ("notification", "company"), "Installation scheduled": ("notification", "company"),
    "Appointment reminder": ("notification", "company"), "Modem shipped": ("notification", "company"),
    "Welcome email": ("notification", "company"), "Welcome to your new address": ("notification", "company"),
    "Move confirmation": ("notification", "company"), "Technician appointment": ("notification", "company"),
    "Equipment return label": ("notification", "company"), "Service activated": ("notification", "company"),
    "Order corrected": ("work_step", "company"), "Contract transfer": ("work_step", "company"),
    "Old address disconnected": ("work_step", "company"), "Billing address updated": ("work_step", "company"),
    "Billing correction": ("work_step", "company"), "Dispute logged": ("work_step", "company"),
    "Bill adjustment": ("work_step", "company"), "Fault resolved": ("work_step", "company"),
    "Complaint escalated": ("work_step", "company"), "Remote diagnosis": ("work_step", "system"),
    "Technician visit": ("visit", "company"),
}
"""What each company-side event is and who started it; bills are the company's bills, and
every other event is a contact the customer started."""


def _event_semantics(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(kind, initiated_by) per event, from :data:`COMPANY_EVENTS` and the channel."""
    codes, tps = pd.factorize(events["touchpoint"])      # each distinct touchpoint looked up once
    tps = [*tps, None]                                   # code -1, a missing touchpoint, reads the last
    bill = events["channel"].to_numpy() == "bill"
    kind = np.array([COMPANY_EVENTS.get(t, ("contact",))[0] for t in tps], dtype=object)[codes]
    by = np.array([COMPANY_EVENTS.get(t, (None, "customer"))[1] for t in tps], dtype=object)[codes]
    return np.where(bill, "bill", kind), np.where(bill, "company", by)


# --------------------------------------------------------------------------- helpers

class _Events:
    """Collects event blocks (column arrays, scalars broadcast) and concatenates them once."""

    COLS = ("cust", "ts", "channel", "touchpoint", "department", "reason", "outcome", "case",
            "jtype", "jid", "avoidable", "agent_contact")

    def __init__(self):
        self.blocks: list[dict] = []

    def add(self, cust, ts, channel, touchpoint, department, reason=None, outcome=None, case=None,
            jtype=None, jid=None, avoidable=None, agent_contact=False, mask=None):
        cust = np.asarray(cust)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
        n = len(cust) if mask is None else int(mask.sum())
        if n == 0:
            return
        block = {}
        for name, val in zip(self.COLS, (cust, ts, channel, touchpoint, department, reason, outcome, case,
                                         jtype, jid, avoidable, agent_contact)):
            arr = np.asarray(val, dtype=object if not isinstance(val, np.ndarray) else None)
            if arr.ndim == 0:
                arr = np.full(n, val, dtype=object)
            elif mask is not None:
                arr = arr[mask]
            block[name] = arr
        self.blocks.append(block)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({c: np.concatenate([b[c] for b in self.blocks]) for c in self.COLS})


def _days(rng, n, lo, hi):
    """Random offsets in [lo, hi) days as timedelta64[s]."""
    return (rng.uniform(lo, hi, n) * 86400).astype("int64").astype("timedelta64[s]")


def _working_hours(rng, day_ts: np.ndarray) -> np.ndarray:
    """Put timestamps on their day at a random time between 08:00 and 20:00 (UTC-ish)."""
    day = day_ts.astype("datetime64[D]").astype("datetime64[s]")
    return day + (rng.uniform(7, 19, len(day_ts)) * 3600).astype("int64").astype("timedelta64[s]")


def _pick(rng, options: dict, n) -> np.ndarray:
    keys = list(options)
    p = np.array(list(options.values()), dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), n, p=p / p.sum())]


def _utc(ts: pd.Timestamp) -> np.datetime64:
    return np.datetime64(ts.tz_convert("UTC").tz_localize(None), "s")


# --------------------------------------------------------------------------- model

@dataclass
class DemoData:
    customers: pd.DataFrame
    events: pd.DataFrame       # clean events with hidden columns (jtype, jid, avoidable)
    journeys: pd.DataFrame     # one row per planted journey instance
    surveys: pd.DataFrame      # clean long survey rows (touchpoint + journey)
    relationship: pd.DataFrame  # one row per relationship-survey respondent
    truth: dict = field(default_factory=dict)
    staff: pd.DataFrame = field(default_factory=pd.DataFrame)   # the staff pulse survey, one row per answer


def simulate_demo(n_customers: int = 20_000, seed: int = DEFAULT_SEED) -> DemoData:
    """Simulate the demo client's clean data and its realised truth (no files, no dirt)."""
    rng = np.random.default_rng(seed)
    P = PLANTED
    cust = _simulate_customers(rng, n_customers)
    ev = _Events()
    journeys = []
    t_start, t_last = _utc(START), _utc(LAST_JOURNEY_START)
    span = (t_last - t_start).astype("int64")

    # new_install + onboarding for new customers
    new = np.flatnonzero(cust["is_new"].to_numpy())
    journeys.append(_new_install(rng, ev, new, cust["signup_ts"].to_numpy()[new]))
    journeys.append(_onboarding(rng, ev, new, journeys[-1]["end"].to_numpy()))
    # move, repair, billing dispute for a random share of everyone
    for name, share, fn in (("move", P["move_share"], _move), ("repair", P["repair_share"], _repair),
                            ("billing_dispute", P["billing_dispute_share"], _billing_dispute)):
        who = np.flatnonzero(rng.random(n_customers) < share)
        t0 = t_start + (rng.random(len(who)) * span).astype("int64").astype("timedelta64[s]")
        journeys.append(fn(rng, ev, who, t0))
    jr = pd.concat(journeys, ignore_index=True)
    jr["jid"] = np.arange(len(jr))
    _simulate_churn(rng, cust, jr)
    _general_contacts(rng, ev, cust)
    events = ev.frame()
    events = _attach_journey_ids(events, jr)
    events = _agent_outcomes(rng, events)
    events = _monthly_bills_and_exit(rng, cust, events)
    events = _cut_after_churn(events, cust, jr)
    surveys = _journey_surveys(rng, jr, events)
    relationship = _relationship_survey(rng, cust, jr)
    events = events.sort_values(["cust", "ts"], kind="stable").reset_index(drop=True)
    events["kind"], events["initiated_by"] = _event_semantics(events)
    cust["contact_consent"] = _contact_consent(np.random.default_rng([seed, 19]), len(cust))
    data = DemoData(cust, events, jr, surveys, relationship, staff=_staff_pulse(np.random.default_rng([seed, 23])))
    data.truth = _truth(data, n_customers, seed)
    return data


def shift_ids(d: DemoData, offset: int) -> None:
    """Move the customer and case numbers of ``d`` up by ``offset``, in place: one chunk of a
    client generated in parts (:func:`cxlib.demo.generate_demo`), whose ids must not meet the
    other chunks'. Events and surveys point at customers by position, so only the ids change."""
    d.customers["customer_id"] = np.char.add("ACC", (100000 + offset + np.arange(len(d.customers))).astype(str))
    for frame in (d.events, d.journeys):
        if "case" in frame:
            case = frame["case"].astype(object)
            has = case.notna().to_numpy()
            text = case[has].astype(str)
            frame["case"] = case.where(~has, text.str[:3] + (text.str[3:].astype(np.int64) + offset).astype(str))


def _simulate_customers(rng, n) -> pd.DataFrame:
    P = PLANTED
    seg = np.where(rng.random(n) < 0.2, "business", "residential")
    plan = np.where(seg == "business", _pick(rng, {"standard": 0.5, "premium": 0.5}, n),
                    _pick(rng, {"basic": 0.3, "standard": 0.5, "premium": 0.2}, n))
    lo = np.select([plan == "basic", plan == "standard"], [15.0, 35.0], 65.0)
    hi = np.select([plan == "basic", plan == "standard"], [25.0, 55.0], 95.0)
    rev = rng.uniform(lo, hi) * np.where(seg == "business", 2.2, 1.0)
    is_new = rng.random(n) < P["new_customer_share"]
    t_start, t_last = _utc(START), _utc(LAST_JOURNEY_START - pd.Timedelta(days=30))
    old = _utc(pd.Timestamp("2016-01-01", tz=TZ))
    signup = np.where(
        is_new,
        t_start + (rng.random(n) * (t_last - t_start).astype("int64")).astype("int64").astype("timedelta64[s]"),
        old + (rng.random(n) * (t_start - old).astype("int64")).astype("int64").astype("timedelta64[s]"))
    heavy = (plan != "premium") & (rng.random(n) < P["heavy_user_share"] / 0.8)
    return pd.DataFrame({
        "customer_id": np.char.add("ACC", (100000 + np.arange(n)).astype(str)),
        "segment": seg, "plan": plan, "region": _pick(rng, {"North": 0.3, "East": 0.2, "South": 0.3, "West": 0.2}, n),
        "monthly_revenue": np.round(rev, 2), "is_new": is_new, "signup_ts": _working_hours(rng, signup),
        "heavy_user": heavy,
    })


STAFF_ITEMS = [   # statement, category, the journey it is about (None: any)
    ("Information from sales is incomplete", "information from other departments", "new_install"),
    ("Our systems are slow or down when I need them", "technology", None),
    ("Rules stop me from fixing the customer's problem", "rules", "billing_dispute"),
    ("I am afraid of being blamed when something goes wrong", "fear of blame", None),
    ("I was not trained for the questions I get", "training", None),
    ("I cannot see what other departments already did for the customer", "information from other departments", "move"),
]
STAFF_PER_DEPARTMENT = {"Sales": 40, "Back office": 30, "Planning": 20, "Field services": 45, "Provisioning": 15,
                        "Customer service": 80, "Technical support": 35, "Billing": 25, "Logistics": 15}
_STAFF_COMMENTS = {
    "information from other departments": "Orders from sales come in without the address details, so we redo them.",
    "technology": "The system freezes during calls.",
    "rules": "I need a manager's approval for every small credit.",
    "fear of blame": "Mistakes are pinned on whoever touched the case last.",
    "training": "Nobody explained the new tariffs to us.",
}


def _staff_pulse(rng) -> pd.DataFrame:
    """The staff pulse survey: every respondent rates every statement (1 disagree .. 5 agree).
    Agreement is rare (``base_agree_p``) except the planted barrier in its department."""
    P = PLANTED["staff_pulse"]
    dept = np.repeat(list(STAFF_PER_DEPARTMENT), list(STAFF_PER_DEPARTMENT.values()))
    resp = np.char.add("S", (1000 + np.arange(len(dept))).astype(str))
    role = np.where(rng.random(len(dept)) < 0.12, "team lead", "agent")
    rows = []
    for statement, category, journey in STAFF_ITEMS:
        p = np.where((statement == P["barrier"]) & (dept == P["department"]), P["agree_p"], P["base_agree_p"])
        agree = rng.random(len(dept)) < p
        score = np.where(agree, rng.integers(4, 6, len(dept)), rng.integers(1, 4, len(dept))).astype(float)
        comment = np.where(agree & (rng.random(len(dept)) < 0.3), _STAFF_COMMENTS[category], None)
        rows.append(pd.DataFrame({"respondent": resp, "department": dept, "role": role, "statement": statement,
                                  "category": category, "journey": journey, "score": score, "comment": comment}))
    out = pd.concat(rows, ignore_index=True)
    day = _utc(pd.Timestamp("2026-03-09", tz=TZ)) + (rng.random(len(out)) * 10 * 86400).astype("int64").astype(
        "timedelta64[s]")
    return out.assign(ts=day)


def _contact_consent(rng, n) -> np.ndarray:
    """The CRM's consent to be contacted: yes for most, no for some, blank (never asked) for a
    few. Its own random stream, so adding it moved no other planted figure."""
    P = PLANTED["callbacks"]
    u = rng.random(n)
    return np.where(u < P["consent_yes"], "Yes", np.where(u < P["consent_yes"] + P["consent_blank"], "", "No"))


def _journey_frame(jtype, cust, start, end, score, **flags) -> pd.DataFrame:
    return pd.DataFrame({"jtype": jtype, "cust": cust, "start": start, "end": end, "score": score, **flags})


def _new_install(rng, ev: _Events, who, t0) -> pd.DataFrame:
    P = PLANTED
    n = len(who)
    case = np.char.add("ORD", (500000 + np.arange(n)).astype(str))
    err = rng.random(n) < P["install_order_error_rate"]
    J = dict(case=case, jtype="new_install")
    order_ch = _pick(rng, {"web": 0.5, "store": 0.25, "call": 0.25}, n)
    ev.add(who, t0, order_ch, "Order placed", "Sales", reason="new_order", agent_contact=order_ch != "web", **J)
    ev.add(who, t0 + _days(rng, n, 0.01, 1), "email", "Order confirmation", "Back office", **J)
    ev.add(who, t0 + _days(rng, n, 1, 3), "email", "Installation scheduled", "Planning", **J)
    visit1 = _working_hours(rng, t0 + _days(rng, n, 5, 12))
    ev.add(who, visit1, "field_visit", "Technician visit", "Field services",
           outcome=np.where(err, "failed", "completed"), **J)
    # the technician finds the order wrong; the back office corrects it (a deterministic step: no draw)
    ev.add(who, visit1 + np.timedelta64(4, "h"), "email", "Order corrected", "Back office", mask=err, **J)
    chase = rng.random(n) < np.where(err, 0.6, 0.08)
    ev.add(who, visit1 + _days(rng, n, 0.05, 0.3), "call", "Where is my technician", "Customer service",
           reason="install_status", avoidable="status_chasing", agent_contact=True, mask=chase, **J)
    resched = visit1 + _days(rng, n, 0.5, 2)
    ev.add(who, resched, "call", "Installation rescheduled", "Planning", reason="reschedule",
           avoidable="failure_demand", agent_contact=True, mask=err, **J)
    visit2 = _working_hours(rng, resched + _days(rng, n, 5, 14))
    ev.add(who, visit2, "field_visit", "Technician visit", "Field services", outcome="completed", mask=err, **J)
    done = np.where(err, visit2, visit1)
    end = done + _days(rng, n, 0.1, 1)
    ev.add(who, end, _pick(rng, {"app": 0.6, "email": 0.4}, n), "Service activated", "Provisioning", **J)
    score = np.where(err, rng.integers(1, 4, n), rng.integers(8, 10, n)).astype(float)
    return _journey_frame("new_install", who, t0, end, score, failed=err, case=case,
                          churn_p=np.where(err, P["install_failed_churn_90d"], P["journey_ok_churn_90d"]),
                          churn_reason=np.where(err, "Installation problems", None))


def _onboarding(rng, ev: _Events, who, activated) -> pd.DataFrame:
    n = len(who)
    J = dict(jtype="onboarding")
    ev.add(who, activated + _days(rng, n, 0.02, 0.5), "email", "Welcome email", "Marketing", **J)
    app = rng.random(n) < 0.6
    ev.add(who, activated + _days(rng, n, 1, 10), "app", "App registration", "Digital", mask=app, **J)
    bill = _working_hours(rng, activated + _days(rng, n, 20, 30))
    ev.add(who, bill, "bill", "First bill", "Billing", outcome="issued", **J)
    confused = rng.random(n) < 0.25
    end = np.where(confused, bill + _days(rng, n, 1, 5), bill)
    ev.add(who, end, "call", "Bill explanation", "Customer service", reason="bill_explanation",
           agent_contact=True, mask=confused, **J)
    score = np.clip(np.where(confused, rng.normal(6, 1.5, n), rng.normal(8.3, 1.0, n)).round(), 0, 10)
    return _journey_frame("onboarding", who, activated, end, score, failed=confused,
                          churn_p=PLANTED["journey_ok_churn_90d"], churn_reason=None)


# touchpoint, channel, department, offset range (days from the move notice)
_MOVE_CORE = [
    ("Move notice", None, "Customer service", (0, 0)),
    ("Move confirmation", "email", "Back office", (0.01, 1)),
    ("Address availability check", "call", "Sales", (1, 3)),
    ("Contract transfer", "web", "Sales", (2, 5)),
    ("Installation scheduled", "email", "Planning", (3, 6)),
    ("Modem shipped", "email", "Logistics", (6, 9)),
    ("Appointment reminder", "app", "Planning", (12, 13)),
    ("Technician visit", "field_visit", "Field services", (14, 21)),
    ("Service activated", "app", "Provisioning", (21, 22)),
    ("Old address disconnected", "email", "Provisioning", (22, 23)),
    ("Equipment return label", "email", "Logistics", (23, 24)),
    ("Equipment returned", "store", "Logistics", (25, 32)),
    ("Final bill old address", "bill", "Billing", (28, 31)),
    ("Welcome to your new address", "email", "Marketing", (31, 32)),
    ("First bill new address", "bill", "Billing", (33, 36)),
]
_MOVE_WRONG = [
    ("Bill complaint", "call", "Billing", (36, 39), "bill_complaint", "failure_demand"),
    ("Billing correction", "email", "Billing", (40, 44), None, None),
    ("Corrected bill", "bill", "Billing", (45, 48), None, None),
]
_MOVE_EXTRA = [
    ("Move status enquiry", "call", "Customer service", (7, 14), "move_status", "status_chasing"),
    ("Appointment rescheduled", "call", "Planning", (10, 14), "reschedule", None),
    ("Move question", "chat", "Customer service", (2, 10), "move", None),
    ("Store visit", "store", "Sales", (3, 12), "move", None),
    ("Internet not working after move", "call", "Technical support", (22, 26), "fault", None),
]
_MOVE_SURVEYED = {"Address availability check", "Technician visit", "Equipment returned", "Bill complaint",
                  "Move status enquiry", "Store visit", "Move question"}


def _move(rng, ev: _Events, who, t0) -> pd.DataFrame:
    P = PLANTED
    n = len(who)
    case = np.char.add("MOV", (700000 + np.arange(n)).astype(str))
    wrong = rng.random(n) < P["move_wrong_rate"]
    J = dict(case=case, jtype="move")
    max_extra = np.where(wrong, 2, 5)
    n_extra = rng.integers(0, max_extra + 1)
    # choose which extras: a random permutation rank per journey < n_extra
    ranks = np.argsort(rng.random((n, len(_MOVE_EXTRA))), axis=1)
    fix = P["move_fix"]
    fixed = t0 >= _utc(pd.Timestamp(fix["date"], tz=TZ))           # the fix: no random draw, nothing else moves
    for name, ch, dept, (lo, hi) in _MOVE_CORE:
        if name in fix["departments"]:
            dept = np.where(fixed, fix["departments"][name], dept)
        channel = _pick(rng, {"call": 0.5, "web": 0.5}, n) if ch is None else np.full(n, ch, dtype=object)
        agent = np.isin(channel, ["call", "store", "chat"])
        outcome = np.where(wrong, "incorrect", "issued") if name == "First bill new address" else None
        ts = t0 + _days(rng, n, lo, hi) if hi > 0 else t0
        if outcome is None:
            outcome = np.where(agent, "resolved", None)
        ev.add(who, ts, channel, name, dept, reason=np.where(agent, "move", None), outcome=outcome,
               agent_contact=agent, **J)
        if name == "Technician visit":   # a second reminder the day before (deterministic: no draw)
            ev.add(who, ts - np.timedelta64(1, "D"), "sms", "Appointment reminder", "Planning", **J)
    # the planted cause: wrong moves never get the new address on the billing account (no draw)
    ev.add(who, t0 + np.timedelta64(24, "D"), "other", P["move_missing_step"], "Billing", mask=~wrong, **J)
    for k, (name, ch, dept, (lo, hi), reason, avoid) in enumerate(_MOVE_WRONG):
        ev.add(who, t0 + _days(rng, n, lo, hi), ch, name, dept, reason=reason, avoidable=avoid,
               outcome="resolved" if ch == "call" else None, agent_contact=ch == "call", mask=wrong, **J)
    for k, (name, ch, dept, (lo, hi), reason, avoid) in enumerate(_MOVE_EXTRA):
        ev.add(who, t0 + _days(rng, n, lo, hi), ch, name, dept, reason=reason, avoidable=avoid,
               outcome="resolved", agent_contact=True, mask=ranks[:, k] < n_extra, **J)
    end = t0 + np.where(wrong, np.timedelta64(48, "D"), np.timedelta64(36, "D")).astype("timedelta64[s]")
    score = np.where(wrong, rng.integers(0, 4, n), rng.integers(4, 9, n)).astype(float)
    score += np.where(fixed & ~wrong, fix["score_lift_ok"], 0)
    return _journey_frame("move", who, t0, end, score, failed=wrong, case=case,
                          n_touchpoints=len(_MOVE_CORE) + 1 + np.where(wrong, len(_MOVE_WRONG), 1) + n_extra,
                          churn_p=np.where(wrong, P["move_wrong_churn_90d"], P["move_ok_churn_90d"]),
                          churn_reason=np.where(wrong, "Problems with move", "Moved away"))


def _repair(rng, ev: _Events, who, t0) -> pd.DataFrame:
    P = PLANTED
    n = len(who)
    J = dict(jtype="repair")
    ch = _pick(rng, {"call": 0.55, "app": 0.25, "web": 0.2}, n)
    t0 = _working_hours(rng, t0)
    ev.add(who, t0, ch, "Fault reported", "Customer service", reason="fault", agent_contact=ch == "call", **J)
    ev.add(who, t0 + _days(rng, n, 0.01, 0.5), "ivr", "Remote diagnosis", "Technical support", **J)
    visit = rng.random(n) < 0.4
    vts = _working_hours(rng, t0 + _days(rng, n, 2, 6))
    ev.add(who, t0 + _days(rng, n, 0.5, 1.5), "email", "Technician appointment", "Planning", mask=visit, **J)
    ev.add(who, vts, "field_visit", "Technician visit", "Field services", outcome="completed", mask=visit, **J)
    chase = visit & (rng.random(n) < 0.25)
    ev.add(who, vts + _days(rng, n, 0.05, 0.2), "call", "Where is my technician", "Customer service",
           reason="repair_status", avoidable="status_chasing", agent_contact=True, mask=chase, **J)
    nftr = rng.random(n) < P["repair_not_first_time_rate"]
    after = np.where(visit, vts, t0)
    rts = _working_hours(rng, after + _days(rng, n, 2, 6))
    ev.add(who, rts, "call", "Fault reported", "Customer service", reason="fault", avoidable="repeat",
           agent_contact=True, mask=nftr, **J)
    end = np.where(nftr, rts, after) + _days(rng, n, 1, 3)
    ev.add(who, end, "email", "Fault resolved", "Technical support", outcome="resolved", **J)
    score = np.clip(np.where(nftr, rng.normal(4.5, 1.5, n), np.where(visit, rng.normal(7.8, 1.0, n),
                                                                     rng.normal(8.6, 0.9, n))).round(), 0, 10)
    return _journey_frame("repair", who, t0, end, score, failed=nftr,
                          churn_p=np.where(nftr, P["repair_not_first_time_churn_90d"], P["journey_ok_churn_90d"]),
                          churn_reason=np.where(nftr, "Repeated faults", None))


def _billing_dispute(rng, ev: _Events, who, t0) -> pd.DataFrame:
    P = PLANTED
    n = len(who)
    J = dict(jtype="billing_dispute")
    t0 = _working_hours(rng, t0)
    ev.add(who, t0, "bill", "Incorrect bill", "Billing", outcome="incorrect", **J)
    explain = rng.random(n) < 0.5
    ets = t0 + _days(rng, n, 1, 4)
    ev.add(who, ets, "call", "Bill explanation", "Customer service", reason="bill_explanation",
           avoidable="failure_demand", agent_contact=True, mask=explain, **J)
    ch = _pick(rng, {"call": 0.6, "chat": 0.25, "email": 0.15}, n)
    cts = np.where(explain, ets, t0) + _days(rng, n, 0.5, 3)
    ev.add(who, cts, ch, "Bill complaint", "Customer service", reason="bill_complaint", agent_contact=True, **J)
    ev.add(who, cts + _days(rng, n, 0.05, 1), "email", "Dispute logged", "Billing", **J)
    unres = rng.random(n) < P["billing_unresolved_first_rate"]
    rts = cts + _days(rng, n, 5, 10)
    ev.add(who, rts, "call", "Bill complaint", "Customer service", reason="bill_complaint",
           avoidable="repeat", agent_contact=True, mask=unres, **J)
    ev.add(who, rts + _days(rng, n, 1, 5), "call", "Complaint escalated", "Complaints", reason="bill_complaint",
           agent_contact=True, mask=unres, **J)
    adj = np.where(unres, rts + _days(rng, n, 6, 12), cts + _days(rng, n, 2, 7))
    ev.add(who, adj, "email", "Bill adjustment", "Billing", outcome="resolved", **J)
    end = adj + _days(rng, n, 10, 25)
    ev.add(who, end, "bill", "Corrected bill", "Billing", outcome="issued", **J)
    score = np.clip(np.where(unres, rng.normal(3.0, 1.5, n), rng.normal(7.5, 1.2, n)).round(), 0, 10)
    return _journey_frame("billing_dispute", who, t0, end, score, failed=unres,
                          churn_p=np.where(unres, P["billing_unresolved_churn_90d"], P["journey_ok_churn_90d"]),
                          churn_reason=np.where(unres, "Billing problems", None))


_BASE_REASONS = {"Better offer from competitor": 0.30, "Price too high": 0.20, "Unhappy with service": 0.15,
                 "Rude or unhelpful staff": 0.15, "Moved abroad": 0.08, "Deceased": 0.02,
                 "Switched with partner's contract": 0.10}


_BACKGROUND_90D = 0.04


def _simulate_churn(rng, cust: pd.DataFrame, jr: pd.DataFrame) -> None:
    """Churn: journey-triggered within 90 days of the journey end, plus a baseline hazard."""
    P = PLANTED
    n = len(cust)
    window_days = (EXTRACT - START).days
    annual = np.where(cust["segment"] == "business", P["baseline_annual_churn"]["business"],
                      P["baseline_annual_churn"]["residential"])
    annual = annual * np.where(cust["plan"] == "basic", P["basic_plan_churn_multiplier"], 1.0)
    p_base = 1 - (1 - annual) ** (window_days / 365.25)
    base = rng.random(n) < p_base
    base_date = _utc(START) + (rng.random(n) * window_days * 86400).astype("int64").astype("timedelta64[s]")
    base_reason = _pick(rng, _BASE_REASONS, n)
    # journey-triggered churn
    # The planted 90-day rates include background churn (~4% in 90 days): trigger the remainder.
    p_trig = np.clip((jr["churn_p"].to_numpy() - _BACKGROUND_90D) / (1 - _BACKGROUND_90D), 0, 1)
    trig = rng.random(len(jr)) < p_trig
    jdate = jr["end"].to_numpy() + _days(rng, len(jr), 5, 88)
    jr["churn_triggered"] = trig
    churn_date = np.where(base, base_date, np.datetime64("NaT", "s")).astype("datetime64[s]")
    reason = np.where(base, base_reason, None).astype(object)
    order = np.argsort(jdate[trig], kind="stable")
    jc, jd = jr["cust"].to_numpy()[trig][order], jdate[trig][order]
    jreason = np.where(pd.isna(jr["churn_reason"].to_numpy()[trig][order]), "Unhappy with service",
                       jr["churn_reason"].to_numpy()[trig][order])
    first = pd.DataFrame({"c": jc, "d": jd, "r": jreason}).drop_duplicates("c")
    cur = churn_date[first["c"].to_numpy()]
    earlier = np.isnat(cur) | (first["d"].to_numpy() < cur)
    churn_date[first["c"].to_numpy()[earlier]] = first["d"].to_numpy()[earlier]
    reason[first["c"].to_numpy()[earlier]] = first["r"].to_numpy()[earlier]
    # journeys that would start after the customer left did not happen
    churned = ~np.isnat(churn_date) & (churn_date <= _utc(EXTRACT))
    churn_date[~churned] = np.datetime64("NaT")
    reason[~churned] = None
    cust["churned"] = churned
    cust["churn_ts"] = churn_date
    cust["churn_reason"] = reason


def _general_contacts(rng, ev: _Events, cust: pd.DataFrame) -> None:
    """Non-journey contacts: self-service attempts (some fail over to an agent) and agent enquiries."""
    P = PLANTED
    n = len(cust)
    seg = cust["segment"].to_numpy()
    t_start = _utc(START)
    span = (_utc(EXTRACT) - t_start).astype("int64")
    heavy = cust["heavy_user"].to_numpy()
    # self-service
    k = rng.poisson(np.where(seg == "business", 3.0, 2.5))
    idx = np.repeat(np.arange(n), k)
    m = len(idx)
    reason = _pick(rng, {"payment": 0.35, "usage_query": 0.3, "change_plan": 0.2, "contract_info": 0.15}, m)
    p_ok = np.array([P["self_service_success"][r][s] for r, s in zip(reason, seg[idx])])
    ok = rng.random(m) < p_ok
    ts = _working_hours(rng, t_start + (rng.random(m) * span).astype("int64").astype("timedelta64[s]"))
    ch = _pick(rng, {"web": 0.5, "app": 0.5}, m)
    names = {"payment": "Pay bill online", "usage_query": "Check usage", "change_plan": "Change plan online",
             "contract_info": "Contract details"}
    ev.add(idx, ts, ch, np.array([names[r] for r in reason], dtype=object), "Digital", reason=reason,
           outcome=np.where(ok, "completed", "abandoned"))
    ev.add(idx, ts + _days(rng, m, 0.01, 2), "call", "General enquiry", "Customer service", reason=reason,
           agent_contact=True, mask=~ok)
    # agent enquiries
    k = rng.poisson(np.where(heavy, 12.0, np.where(seg == "business", 1.5, 1.0)))
    idx = np.repeat(np.arange(n), k)
    m = len(idx)
    reason = _pick(rng, {"product_info": 0.35, "payment": 0.2, "change_plan": 0.2, "contract_info": 0.25}, m)
    ch = np.where(heavy[idx], _pick(rng, {"call": 0.6, "store": 0.3, "chat": 0.1}, m),
                  _pick(rng, {"call": 0.65, "chat": 0.25, "email": 0.07, "store": 0.03}, m))
    ts = _working_hours(rng, t_start + (rng.random(m) * span).astype("int64").astype("timedelta64[s]"))
    ev.add(idx, ts, ch, "General enquiry", np.where(ch == "store", "Sales", "Customer service"), reason=reason,
           agent_contact=True)


def _attach_journey_ids(events: pd.DataFrame, jr: pd.DataFrame) -> pd.DataFrame:
    """Each journey event gets its journey's row id (journeys are unique per customer x type x start)."""
    events = events.copy()
    events["ts"] = events["ts"].astype("datetime64[s]")
    key = jr[["jtype", "cust", "jid"]]  # at most one journey per customer and type
    events = events.drop(columns="jid").merge(key, on=["jtype", "cust"], how="left")
    events["jid"] = events["jid"].astype("Int64")
    return events


def _agent_outcomes(rng, events: pd.DataFrame) -> pd.DataFrame:
    """Assign agents, handle times and outcomes; unresolved agent contacts cause a repeat contact."""
    P = PLANTED
    n_agents = P["n_agents"]
    agents = np.char.add("AG", np.char.zfill(np.arange(1, n_agents + 1).astype(str), 3))
    poor = np.sort(rng.choice(n_agents, 3, replace=False))
    fcr = np.clip(rng.normal(P["agent_fcr"], 0.02, n_agents), 0.8, 0.95)
    fcr[poor] = P["poor_agent_fcr"]
    aht = rng.normal(P["agent_handle_time_s"], 30, n_agents)
    aht[poor] = P["poor_agent_handle_time_s"]
    events = events.copy()
    events["agent"] = None
    events["handle_time_s"] = np.nan
    pending = events.index[events["agent_contact"].astype(bool)]
    frame = events
    for generation in range(2):
        a = rng.integers(0, n_agents, len(pending))
        ch = frame.loc[pending, "channel"].to_numpy()
        factor = np.select([ch == "chat", ch == "email", ch == "store"], [1.4, 0.6, 1.2], 1.0)
        frame.loc[pending, "agent"] = agents[a]
        frame.loc[pending, "handle_time_s"] = np.round(aht[a] * factor * rng.lognormal(0, 0.35, len(pending)))
        resolved = rng.random(len(pending)) < fcr[a]
        transferred = ~resolved & (rng.random(len(pending)) < 0.15)
        preset = frame.loc[pending, "outcome"].isna().to_numpy()
        out = np.where(resolved, "resolved", np.where(transferred, "transferred", "unresolved"))
        frame.loc[pending[preset], "outcome"] = out[preset]
        # most customers whose issue stayed unresolved get back in touch (a repeat contact)
        unres = pending[~resolved & ~transferred & preset & (rng.random(len(pending)) < P["repeat_after_unresolved"])]
        if generation == 1 or not len(unres):
            break
        rep = frame.loc[unres].copy()
        rep["ts"] = (rep["ts"].to_numpy() + _days(rng, len(rep), 0.5, 5)).astype("datetime64[s]")
        rep["channel"] = "call"
        rep["avoidable"] = "repeat"
        rep["outcome"] = None
        rep["touchpoint"] = np.where(rep["touchpoint"].isin(["Order placed", "Equipment returned", "Store visit"]),
                                     "Follow-up call", rep["touchpoint"])
        rep["department"] = np.where(rep["department"].isin(["Sales", "Logistics"]), "Customer service",
                                     rep["department"])
        rep.index = np.arange(len(frame), len(frame) + len(rep))
        frame = pd.concat([frame, rep])
        pending = rep.index
    frame.attrs["poor_agents"] = sorted(agents[poor].tolist())
    return frame.reset_index(drop=True)


def _monthly_bills_and_exit(rng, cust: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """A bill per customer per month, plus a cancellation call and final bill for churners."""
    poor = events.attrs.get("poor_agents")
    n = len(cust)
    months = pd.date_range(START.tz_convert("UTC").tz_localize(None), EXTRACT.tz_convert("UTC").tz_localize(None),
                           freq="MS").to_numpy().astype("datetime64[s]")
    bill_day = rng.integers(1, 28, n)
    idx = np.repeat(np.arange(n), len(months))
    ts = np.tile(months, n) + ((bill_day[idx] - 1) * 86400 + rng.integers(3600 * 4, 3600 * 6, len(idx))).astype(
        "timedelta64[s]")
    signup = cust["signup_ts"].to_numpy().astype("datetime64[s]")
    keep = ts > signup[idx] + np.timedelta64(20, "D")
    keep &= ts <= _utc(EXTRACT)
    bills = pd.DataFrame({"cust": idx[keep], "ts": ts[keep], "channel": "bill", "touchpoint": "Monthly bill",
                          "department": "Billing", "outcome": "issued"})
    # churners: cancellation call on the churn date, final bill after it
    ch = np.flatnonzero(cust["churned"].to_numpy())
    cts = cust["churn_ts"].to_numpy()[ch].astype("datetime64[s]")
    cancel = pd.DataFrame({"cust": ch, "ts": _working_hours(rng, cts), "channel": "call",
                           "touchpoint": "Cancellation request", "department": "Retention",
                           "reason": "cancel", "outcome": "resolved",
                           "agent": np.char.add("AG", np.char.zfill(rng.integers(1, PLANTED["n_agents"] + 1,
                                                                                   len(ch)).astype(str), 3)),
                           "handle_time_s": np.round(rng.normal(600, 60, len(ch))), "agent_contact": True})
    final = pd.DataFrame({"cust": ch, "ts": cts + _days(rng, len(ch), 3, 10), "channel": "bill",
                          "touchpoint": "Final bill", "department": "Billing", "outcome": "issued"})
    final = final[final["ts"] <= _utc(EXTRACT)]
    out = pd.concat([events, bills, cancel, final], ignore_index=True)
    out["agent_contact"] = out["agent_contact"].fillna(False).astype(bool)
    out.attrs["poor_agents"] = poor
    return out


def _cut_after_churn(events: pd.DataFrame, cust: pd.DataFrame, jr: pd.DataFrame) -> pd.DataFrame:
    """Drop what a departed customer could not have done: events after the churn date
    (but the final bill) and journeys that would have started after it; everything
    after the extract date."""
    churn = cust["churn_ts"].to_numpy().astype("datetime64[s]")[events["cust"].to_numpy()]
    ts = events["ts"].to_numpy().astype("datetime64[s]")
    after = ~np.isnat(churn) & (ts > churn + np.timedelta64(1, "h")) & (events["touchpoint"] != "Final bill")
    keep = ~after & (ts <= _utc(EXTRACT))
    jchurn = cust["churn_ts"].to_numpy().astype("datetime64[s]")[jr["cust"].to_numpy()]
    jr["happened"] = np.isnat(jchurn) | (jr["start"].to_numpy() < jchurn)
    jr["completed"] = jr["happened"] & (np.isnat(jchurn) | (jr["end"].to_numpy() <= jchurn))
    poor = events.attrs.get("poor_agents")
    out = events[keep].reset_index(drop=True)
    out = out.drop_duplicates(subset=["cust", "ts", "touchpoint", "channel"]).reset_index(drop=True)
    out.attrs["poor_agents"] = poor
    return out


def _journey_surveys(rng, jr: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Journey NPS after completed journeys and touchpoint CSAT after some agent or visit touchpoints."""
    P = PLANTED
    done = jr[jr["completed"]]
    rate = done["jtype"].map({"new_install": 0.45, "move": 0.5, "repair": 0.4, "billing_dispute": 0.4,
                              "onboarding": 0.35}).to_numpy()
    resp = done[rng.random(len(done)) < rate]
    js = pd.DataFrame({"cust": resp["cust"].to_numpy(), "ts": (resp["end"].to_numpy() + _days(rng, len(resp), 0.5, 4)),
                       "level": "journey", "subject": resp["jtype"].to_numpy(), "metric": "nps",
                       "score": resp["score"].to_numpy(), "jid": resp["jid"].to_numpy()})
    js = js[js["ts"] <= _utc(EXTRACT)]
    # touchpoint CSAT: agent contacts and visits, ~30% respond
    tp = events[(events["agent_contact"] | (events["channel"] == "field_visit")) & events["jtype"].notna()]
    tp = tp[rng.random(len(tp)) < 0.3]
    green_p = np.full(len(tp), 0.82)
    is_move = (tp["jtype"] == "move").to_numpy()
    green_p[is_move] = P["move_touchpoint_csat_green_p"]
    failed_visit = (tp["outcome"] == "failed").to_numpy()
    unres = tp["outcome"].isin(["unresolved", "transferred"]).to_numpy()
    green_p[unres & ~is_move] = 0.55
    green = rng.random(len(tp)) < green_p
    score = np.where(green, rng.integers(4, 6, len(tp)), rng.integers(1, 4, len(tp))).astype(float)
    score[failed_visit] = rng.integers(1, 3, failed_visit.sum())
    ts = pd.DataFrame({"cust": tp["cust"].to_numpy(), "ts": tp["ts"].to_numpy() + _days(rng, len(tp), 0.02, 1),
                       "level": "touchpoint", "subject": tp["touchpoint"].to_numpy(), "metric": "csat",
                       "score": score, "jid": tp["jid"].to_numpy()})
    ts = ts[ts["ts"] <= _utc(EXTRACT)]
    out = pd.concat([js, ts], ignore_index=True)
    out["ts"] = out["ts"].astype("datetime64[s]")
    out["comment"] = None
    return out.drop_duplicates(subset=["cust", "ts", "subject", "metric"]).reset_index(drop=True)


_COMMENTS = {
    "low": ["The installation was a mess, two visits and nobody told me anything.",
            "Moving my contract took weeks and the bill was wrong.", "I called three times about the same fault.",
            "Staff were friendly but nothing got fixed."],
    "mid": ["It works, but the bill is hard to understand.", "OK service, app could be better."],
    "high": ["Great service, quick and friendly.", "Technician was on time and very helpful."],
}


def _relationship_survey(rng, cust: pd.DataFrame, jr: pd.DataFrame) -> pd.DataFrame:
    """Relationship NPS = intercept + sum_j w_j (S_j - mean_j) + sum_k c_k (A_k - 3.9) + noise,
    over journeys the respondent completed before answering (journeys not experienced
    contribute 0) and the four attribute ratings A_k every respondent gives. The survey
    also asks for each journey's rating (S_j, blank when not experienced)."""
    R = PLANTED["relationship_nps"]
    n = len(cust)
    resp = np.flatnonzero(rng.random(n) < R["response_rate"])
    t_lo = _utc(START + pd.Timedelta(days=60))
    ts = _working_hours(rng, t_lo + (rng.random(len(resp)) * (_utc(EXTRACT) - t_lo).astype("int64")).astype(
        "int64").astype("timedelta64[s]"))
    churn = cust["churn_ts"].to_numpy().astype("datetime64[s]")[resp]
    active = np.isnat(churn) | (ts < churn)
    resp, ts = resp[active], ts[active]
    means = jr[jr["completed"]].groupby("jtype")["score"].mean()
    done = jr[jr["completed"]][["cust", "jtype", "end", "score"]]
    contrib = pd.DataFrame({"cust": resp, "ts": ts})
    latent = np.full(len(resp), R["intercept"])
    for jtype, w in R["weights"].items():
        d = done[done["jtype"] == jtype].drop_duplicates("cust")
        m = contrib.merge(d, on="cust", how="left")
        had = m["end"].notna().to_numpy() & (m["end"].to_numpy() < m["ts"].to_numpy())
        latent += np.where(had, w * (m["score"].to_numpy() - means[jtype]), 0.0)
    attributes = {name: np.clip(np.round(rng.normal(R["attribute_mean"], R["attribute_sd"], len(resp))), 1, 5)
                  for name in R["attribute_effects"]}
    for name, effect in R["attribute_effects"].items():
        latent += effect * (attributes[name] - R["attribute_mean"])
    nps = np.clip(np.round(latent + rng.normal(0, R["noise_sd"], len(resp))), 0, 10)
    # the same survey asks about each journey the respondent went through (its score) ...
    journey_ratings = {}
    for jtype in R["weights"]:
        d = done[done["jtype"] == jtype].drop_duplicates("cust")
        m = contrib.merge(d, on="cust", how="left")
        had = m["end"].notna().to_numpy() & (m["end"].to_numpy() < m["ts"].to_numpy())
        journey_ratings[jtype] = np.where(had, m["score"].to_numpy(), np.nan)

    osat = np.clip(np.round(1 + 4 * nps / 10 + rng.normal(0, 0.5, len(resp))), 1, 5)
    osat[rng.random(len(resp)) < R["osat_not_answered"]] = 0  # 0 = no answer
    band = np.where(nps <= 6, "low", np.where(nps <= 8, "mid", "high"))
    comment = np.array([_COMMENTS[b][rng.integers(len(_COMMENTS[b]))] for b in band], dtype=object)
    comment[rng.random(len(resp)) < 0.75] = None
    return pd.DataFrame({"cust": resp, "ts": ts.astype("datetime64[s]"), "nps": nps, "osat": osat,
                         "comment": comment, **{f"j_{k}": v for k, v in journey_ratings.items()},
                         **{f"a_{k}": v for k, v in attributes.items()}})


# --------------------------------------------------------------------------- truth

def _truth(d: DemoData, n_customers: int, seed: int) -> dict:
    from cxlib import __version__
    cust, ev, jr = d.customers, d.events, d.journeys
    P = PLANTED
    churn = cust["churn_ts"].to_numpy().astype("datetime64[s]")
    jr_done = jr[jr["completed"]].copy()
    jc = churn[jr_done["cust"].to_numpy()]
    end = jr_done["end"].to_numpy().astype("datetime64[s]")
    jr_done["churn_90d"] = ~np.isnat(jc) & (jc >= end) & (jc <= end + np.timedelta64(90, "D"))
    churn_90 = jr_done.groupby(["jtype", "failed"])["churn_90d"].agg(["mean", "size"])
    journeys = {}
    for jtype, g in jr_done.groupby("jtype"):
        journeys[jtype] = {"n": int(len(g)), "failed_share": float(g["failed"].mean()),
                           "score_mean": float(g["score"].mean()),
                           "churn_90d": float(g["churn_90d"].mean())}
        for flag in (True, False):
            if (jtype, flag) in churn_90.index:
                row = churn_90.loc[(jtype, flag)]
                journeys[jtype][f"churn_90d_{'failed' if flag else 'ok'}"] = float(row["mean"])
                journeys[jtype][f"n_{'failed' if flag else 'ok'}"] = int(row["size"])
    move_ev = ev[ev["jtype"] == "move"]
    done_moves = jr_done.loc[jr_done["jtype"] == "move", "jid"]
    move_counts = move_ev[move_ev["jid"].isin(done_moves)].groupby("jid").size()
    journeys["move"]["touchpoints_min"] = int(move_counts.min())
    journeys["move"]["touchpoints_max"] = int(move_counts.max())
    journeys["move"]["touchpoints_median"] = float(move_counts.median())
    journeys["move"]["departments"] = sorted(move_ev["department"].unique().tolist())
    mv_tp = d.surveys[(d.surveys["level"] == "touchpoint") & d.surveys["jid"].isin(jr[jr["jtype"] == "move"]["jid"])]
    journeys["move"]["touchpoint_csat_green_share"] = float((mv_tp["score"] >= 4).mean())
    mv_j = d.surveys[(d.surveys["level"] == "journey") & (d.surveys["subject"] == "move")]
    journeys["move"]["journey_nps_green_share"] = float((mv_j["score"] >= 7).mean())
    journeys["new_install"]["n_failed_visits"] = int(((ev["jtype"] == "new_install") & (ev["outcome"] == "failed")).sum())
    agent = ev[ev["agent"].notna()]
    avoid = agent["avoidable"].notna()
    value = _value_truth(cust, ev)
    churned = cust[cust["churned"]]
    reason_share = {cat: float(churned["churn_reason"].isin(raws).mean()) for cat, raws in
                    {"Staff attitude": ["Unhappy with service", "Rude or unhelpful staff"],
                     "Competition": ["Better offer from competitor", "Price too high"]}.items()}
    return {
        "generator": {"name": "cxlib.demo", "version": __version__, "seed": seed, "n_customers": n_customers,
                      "start": str(START.date()), "extract_date": str(EXTRACT.date()), "timezone": TZ},
        "planted": P,
        "journeys": journeys,
        "contacts": {"agent_contacts": int(len(agent)), "avoidable_share": float(avoid.mean()),
                     "avoidable_by_cause": {k: int(v) for k, v in agent["avoidable"].value_counts().items()},
                     "outlier_agents": ev.attrs.get("poor_agents", [])},
        "value": value,
        "churn": {"customers_churned": int(cust["churned"].sum()), "churn_rate": float(cust["churned"].mean()),
                  "by_reason": {k: int(v) for k, v in cust["churn_reason"].value_counts().items()}},
        "relationship_nps": {"n": int(len(d.relationship)), "mean": float(d.relationship["nps"].mean())},
        "drivers": {"outcome": "relationship nps", "method": "Shapley share of R², not-applicable set to the mean",
                    "population_shares": POPULATION_DRIVER_SHARES, "population_sample": POPULATION_SAMPLE},
        "beliefs": _belief_truth(journeys),
        "callbacks": _callback_truth(d),
        "interventions": _intervention_truth(d),
        "barriers": _barrier_truth(d.staff),
        "touchpoints": _touchpoint_truth(ev),
        "benchmarks": {
            "avoidable_share": {"client": float(avoid.mean()),
                                "outside": not 0.10 <= float(avoid.mean()) <= 0.15},
            **{f"churn_reason_share: {cat}": {"client": share,
                                              "outside": abs(share - PLANTED_BENCHMARKS[f"churn_reason_share: {cat}"]
                                                             ["value"]) > 0.05}
               for cat, share in reason_share.items()}},
    }


def _barrier_truth(staff: pd.DataFrame) -> dict:
    """The planted staff barrier and, per department, the share agreeing with it (4 or 5)."""
    P = PLANTED["staff_pulse"]
    item = staff[staff["statement"] == P["barrier"]]
    share = (item["score"] >= 4).groupby(item["department"]).mean()
    return {"barrier": P["barrier"], "department": P["department"], "journey": P["journey"],
            "failing_step": "Order corrected", "respondents": int(staff["respondent"].nunique()),
            "agree_share": {k: float(v) for k, v in share.items()}}


def _intervention_truth(d: DemoData) -> dict:
    """The planted fix on the move journey, and the journeys it did not touch: mean handoffs
    (department changes between consecutive events) and mean score of the journeys started
    before and after the fix date, per journey type."""
    fix = PLANTED["move_fix"]
    cut = _utc(pd.Timestamp(fix["date"], tz=TZ))
    ev = d.events[d.events["jid"].notna()].sort_values(["jid", "ts"], kind="stable")
    same = ev["jid"].eq(ev["jid"].shift())
    handoffs = (same & ev["department"].ne(ev["department"].shift())).groupby(ev["jid"]).sum()
    types = sorted(d.journeys["jtype"].unique())
    out = {"journey": "move", "date": fix["date"], "untouched": [t for t in types if t != "move"],
           "planted": {"handoffs_change": -len(fix["departments"]),
                       "score_change_ok": fix["score_lift_ok"],
                       "score_change_mean": fix["score_lift_ok"] * (1 - PLANTED["move_wrong_rate"])}}
    for jtype in types:
        jr = d.journeys[d.journeys["jtype"] == jtype]
        post = jr["start"].to_numpy() >= cut
        h = handoffs.reindex(jr["jid"]).to_numpy(float)
        out[jtype] = {"n_before": int((~post).sum()), "n_after": int(post.sum()),
                      "handoffs_before": float(np.nanmean(h[~post])), "handoffs_after": float(np.nanmean(h[post])),
                      "score_before": float(jr["score"][~post].mean()), "score_after": float(jr["score"][post].mean())}
    return out


def _callback_truth(d: DemoData) -> dict:
    """Who may be called back: the consent rule, and the ids of the customers who rated a
    journey or the relationship in the last 45 days and did not agree to be contacted (none of
    them may be on the call-back list)."""
    cust = d.customers
    j = d.surveys[d.surveys["level"] == "journey"][["cust", "ts"]]
    recent_cut = max(j["ts"].max(), d.relationship["ts"].max()) - np.timedelta64(45, "D")
    raters = np.union1d(j.loc[j["ts"] >= recent_cut, "cust"], d.relationship.loc[d.relationship["ts"] >= recent_cut, "cust"])
    consent = cust["contact_consent"].to_numpy()
    ids = cust["customer_id"].to_numpy()
    return {"consent_column": "ContactConsent", "consent_share": float((consent == "Yes").mean()),
            "recent_raters": int(len(raters)),
            "recent_raters_without_consent": sorted(ids[raters][consent[raters] != "Yes"].tolist())}


def _touchpoint_truth(ev: pd.DataFrame) -> dict:
    """The touchpoint that costs most a year at the planted cost per contact (the inventory's
    planted answer: the field visit, at EUR 65 a visit) and that cost, over the events' span."""
    cost = ev["channel"].map(PLANTED["cost_per_contact"]).fillna(0)
    days = (ev["ts"].max() - ev["ts"].min()).total_seconds() / 86400
    per_year = cost.groupby(ev["touchpoint"]).sum() * 365.25 / days
    return {"costliest": str(per_year.idxmax()), "costliest_cost_per_year": float(per_year.max()),
            "install_moment": "Order corrected"}


def _belief_truth(journeys: dict) -> dict:
    """Whether each planted belief holds in the generating model: the share of installs that go
    wrong (scored 1-3, the rest 8-9), the 90-day churn after a move, the population Shapley
    shares of the drivers."""
    P = PLANTED
    actual = {"install_quarter_unhappy": P["install_order_error_rate"],
              "movers_forty_percent_leave": journeys["move"]["churn_90d"],
              "install_drives_nps": POPULATION_DRIVER_SHARES["journey: new_install"],
              "onboarding_drives_nps": POPULATION_DRIVER_SHARES["journey: onboarding"]}
    out = {}
    for name, b in PLANTED_BELIEFS.items():
        holds = (abs(actual[name] - b["believed"]) <= 0.05 if b["direction"] == "about"
                 else actual[name] >= b["believed"])
        out[name] = {"true": bool(holds), "actual": float(actual[name]), **b}
    return out


def _value_truth(cust: pd.DataFrame, ev: pd.DataFrame) -> dict:
    """Cost to serve per month = fixed service cost + contact costs over the months observed."""
    cost = ev["channel"].map(COST_PER_CONTACT).to_numpy()
    per_cust = np.bincount(ev["cust"].to_numpy(), weights=cost, minlength=len(cust))
    start = np.maximum(cust["signup_ts"].to_numpy().astype("datetime64[s]"), _utc(START))
    stop = cust["churn_ts"].to_numpy().astype("datetime64[s]")
    stop = np.where(np.isnat(stop), _utc(EXTRACT), stop)
    months = np.maximum((stop - start).astype("timedelta64[s]").astype("int64") / 86400 / 30.4375, 1.0)
    cts = SERVICE_COST_MONTHLY + per_cust / months
    unprofitable = cts > cust["monthly_revenue"].to_numpy()
    return {"definition": "cost_to_serve_monthly = service_cost_monthly + contact costs by channel / months observed",
            "unprofitable_share": float(unprofitable.mean()),
            "mean_cost_to_serve_monthly": float(cts.mean()),
            "mean_monthly_revenue": float(cust["monthly_revenue"].mean())}


def canonical_events(d: DemoData) -> pd.DataFrame:
    """The demo's clean events in the canonical events schema (no dirt, UTC), for
    benchmarks and tests that skip the raw files and ingestion."""
    ev = d.events
    return pd.DataFrame({
        "customer_id": d.customers["customer_id"].to_numpy()[ev["cust"].to_numpy()],
        "timestamp": pd.to_datetime(ev["ts"]).dt.tz_localize("UTC"),
        "channel": ev["channel"].to_numpy(), "touchpoint": ev["touchpoint"].to_numpy(),
        "department": ev["department"].to_numpy(), "contact_reason": ev["reason"].to_numpy(),
        "outcome": ev["outcome"].astype(object).to_numpy(), "agent_id": ev["agent"].astype(object).to_numpy(),
        "handle_time_s": ev["handle_time_s"].to_numpy(), "case_id": ev["case"].to_numpy(),
        "kind": ev["kind"].to_numpy(), "initiated_by": ev["initiated_by"].to_numpy(),
    })


def population_driver_shares(n_customers: int = 400_000, seed: int = 2024) -> dict[str, float]:
    """Shapley shares of the relationship-NPS drivers on the generating model, from a very
    large sample (not the demo's own draw), with the method the report uses: drivers from
    the relationship survey, 'not applicable' journey ratings set to their mean.
    ``POPULATION_DRIVER_SHARES`` holds the result; ``tools/population_driver_shares.py``
    recomputes it."""
    from cxlib.drivers.importance import DriverAnalysis
    rel = simulate_demo(n_customers, seed).relationship
    X = pd.DataFrame({**{f"journey: {k}": rel[f"j_{k}"] for k in RELATIONSHIP_JOURNEY_QUESTIONS},
                      **{f"touchpoint: {k}": rel[f"a_{k}"] for k in RELATIONSHIP_ATTRIBUTE_QUESTIONS}})
    m = DriverAnalysis(n_boot=0, missing="mean").fit(X, rel["nps"])
    return {d: float(v) for d, v in m.importance_["shapley_share"].items()}
