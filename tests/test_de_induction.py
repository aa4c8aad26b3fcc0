"""A strong inducer stopped while imatinib was raised for it: the dose before it, when to step back, a trough order."""

from datetime import UTC, date, datetime, timedelta

import pytest

from cds_service.facts.timeline import parse_instant
from cds_service.fhir_validation import emitted_version, validation_problems
from tests.helpers import bundle, cards_of, hook_request, resource, suggestion
from tests.meds import order, statement
from tests.rendering import assert_renders_as_written

TOPIC = "imatinib-inducer-stopped"
HOOK_FOR = {"R4": "order-sign", "STU3": "order-select", "DSTU2": "medication-prescribe"}


def today() -> date:
    return datetime.now(UTC).date()


def ago(days: int) -> str:
    return (today() - timedelta(days=days)).isoformat()


def de_induction_cards(response) -> list[dict]:
    return [assert_renders_as_written(c) for c in cards_of(response) if c["source"]["topic"]["code"] == TOPIC]


def renewal(
    version: str = "R4",
    *,
    stopped_days_ago: int = 5,
    started_days_ago: int = 40,
    before_mg: float = 400,
    raised_mg: float | None = 600,
    draft_mg: float = 600,
    inducer: str = "Rifampin 300 MG Oral Capsule",
    extra_active: tuple[dict, ...] = (),
    later_history: tuple[dict, ...] = (),
) -> dict:
    """Imatinib being renewed after an inducer order stopped, with the imatinib history before and during it (and
    `later_history`: orders after it)."""
    stopped = order(version, "inducer-stopped", inducer, status="stopped", mg=600,
                    authored=ago(started_days_ago), ended=ago(stopped_days_ago))
    history = [stopped, order(version, "imatinib-before", "imatinib 400 MG Oral Tablet", status="completed",
                              mg=before_mg, authored=ago(started_days_ago + 60))]
    active = list(extra_active)
    if raised_mg is not None:
        raised = order(version, "imatinib-raised", "imatinib 400 MG Oral Tablet", mg=raised_mg,
                       authored=ago(started_days_ago - 3))
        history.append(raised)
        active.append(raised)
    history += later_history
    draft = order(version, "imatinib-draft", "imatinib 400 MG Oral Tablet", status="draft", mg=draft_mg)
    # A DSTU2 client fills the MedicationOrder keys discovery offers beside the MedicationRequest ones.
    keys = ("medicationOrderHistory", "activeMedicationOrders") if version == "DSTU2" else (
        "medicationHistory", "activeMedications")
    return hook_request(HOOK_FOR[version], [draft], prefetch={keys[0]: bundle(*history), keys[1]: bundle(*active)})


def trough_resource(card: dict) -> dict:
    return suggestion(card, "Order an imatinib trough")["actions"][0]["resource"]


def test_rifampin_stopped_5_days_ago_with_imatinib_raised_to_600_steps_back_in_9_days(call):
    [card] = de_induction_cards(call(renewal()))
    step_back = (today() + timedelta(days=9)).isoformat()
    assert card["indicator"] == "warning"
    assert card["summary"] == f"Rifampin stopped 5 days ago: step imatinib back to 400 mg/day on {step_back}"
    assert f"Keep 600 mg/day until **{step_back}** (in 9 days, 14 days after rifampin stopped)" in card["detail"]
    assert "400 mg/day is the dose before rifampin." in card["detail"]
    assert "back to baseline about 8 days after rifampin is stopped (status V2)" in card["detail"]
    assert "doi 10.1007/s13318-023-00833-9" in card["detail"]
    # Not yet: no dose change offered today, only the trough, dated 8 days after the step back (ARUP: at least 8
    # days after a dose change), so it measures the dose stepped back to.
    assert [s["label"] for s in card["suggestions"]] == ["Order an imatinib trough level"]
    trough = trough_resource(card)
    assert trough["resourceType"] == "ServiceRequest"
    assert trough["occurrenceDateTime"] == (today() + timedelta(days=9 + 8)).isoformat()
    assert f"at least 8 days after the step back on {step_back} (ARUP)" in card["detail"]


def test_rifampin_stopped_30_days_ago_offers_the_step_back_now(call):
    [card] = de_induction_cards(call(renewal(stopped_days_ago=30, started_days_ago=70)))
    assert card["summary"] == "Rifampin stopped 30 days ago: imatinib still 600 mg/day; step back to 400 mg/day"
    assert f"the 14 days after stopping rifampin ended on {(today() - timedelta(days=16)).isoformat()}" in (
        card["detail"]
    )
    update = suggestion(card, "Step imatinib back to 400 mg/day")["actions"][0]
    assert update["type"] == "update"
    dosage = update["resource"]["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 400
    assert dosage["timing"]["repeat"]["frequency"] == 1
    assert update["resource"]["id"] == "imatinib-draft"
    assert trough_resource(card)["occurrenceDateTime"] == (today() + timedelta(days=8)).isoformat()


def test_carbamazepine_statement_stopped_counts_and_says_the_figure_is_from_rifampicin(call):
    cbz = statement("R4", "cbz", "carbamazepine 200 mg tablets", status="stopped", start=ago(90), end=ago(3))
    draft = order("R4", "imatinib-draft", "imatinib 400 MG Oral Tablet", status="draft", mg=600)
    history = [order("R4", "im-400", "imatinib 400 MG Oral Tablet", status="completed", mg=400, authored=ago(200)),
               order("R4", "im-600", "imatinib 400 MG Oral Tablet", status="completed", mg=600, authored=ago(80))]
    body = hook_request("order-sign", [draft], prefetch={
        "stoppedMedicationStatements": bundle(cbz), "medicationHistory": bundle(*history),
    })
    [card] = de_induction_cards(call(body))
    assert card["summary"].startswith("Carbamazepine stopped 3 days ago: step imatinib back to 400 mg/day")
    assert "after rifampin is stopped (measured after rifampin)" in card["detail"]
    assert "effectivePeriod.end" in card["detail"]
    assert "raised during it: 600 mg/day" in card["detail"]


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("imatinib never raised", {"raised_mg": None, "draft_mg": 400}),
        ("already stepped back", {"draft_mg": 400}),
        ("stopped beyond the look-back, imatinib stepped back and raised again since", {
            "stopped_days_ago": 70, "started_days_ago": 100,
            "later_history": (
                order("R4", "im-back", "imatinib 400 MG Oral Tablet", status="completed", mg=400, authored=ago(60)),
                order("R4", "im-again", "imatinib 400 MG Oral Tablet", status="completed", mg=600, authored=ago(30)),
            ),
        }),
        ("stopped beyond the look-back, raised further since", {
            "stopped_days_ago": 70, "started_days_ago": 100, "draft_mg": 800,
            "later_history": (
                order("R4", "im-800", "imatinib 400 MG Oral Tablet", status="completed", mg=800, authored=ago(20)),
            ),
        }),
        ("another strong inducer still taken",
         {"extra_active": (order("R4", "pht", "phenytoin 100 mg capsule", mg=300),)}),
    ],
)
def test_no_de_induction_card(call, case, changes):
    assert de_induction_cards(call(renewal(**changes))) == [], case


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_a_dose_raised_for_an_inducer_that_stopped_long_ago_and_never_stepped_back_still_gets_the_step_back(
    call, version
):
    # Past the 8-week look-back: nothing recorded since the inducer ended, so the raised dose is still the one
    # raised for it, and the patient has been over-exposed for weeks.
    [card] = de_induction_cards(call(renewal(version, stopped_days_ago=70, started_days_ago=100)))
    assert card["summary"] == "Rifampin stopped 70 days ago: imatinib still 600 mg/day; step back to 400 mg/day"
    assert "raised during it: 600 mg/day" in card["detail"]
    update = suggestion(card, "Step imatinib back to 400 mg/day")["actions"][0]
    assert update["type"] == "update" and update["resource"]["id"] == "imatinib-draft"
    assert validation_problems(update["resource"], emitted_version(update["resource"])) == []


def test_past_the_look_back_a_renewal_at_the_raised_dose_is_no_change(call):
    renewed = order("R4", "im-renewed", "imatinib 400 MG Oral Tablet", status="completed", mg=600, authored=ago(40))
    [card] = de_induction_cards(call(renewal(stopped_days_ago=70, started_days_ago=100, later_history=(renewed,))))
    assert card["summary"] == "Rifampin stopped 70 days ago: imatinib still 600 mg/day; step back to 400 mg/day"


def test_a_cancelled_inducer_order_was_never_taken(call):
    body = renewal()
    history = body["prefetch"]["medicationHistory"]["entry"]
    history[0]["resource"]["status"] = "cancelled"
    assert de_induction_cards(call(body)) == []


@pytest.mark.parametrize(("version", "trough_type"), [("DSTU2", "DiagnosticOrder"), ("STU3", "ProcedureRequest"),
                                                      ("R4", "ServiceRequest")])
def test_each_fhir_version_reads_the_end_and_writes_the_step_back_in_its_own_shape(call, version, trough_type):
    [card] = de_induction_cards(call(renewal(version, stopped_days_ago=20, started_days_ago=60)))
    assert card["summary"].startswith("Rifampin stopped 20 days ago: imatinib still 600 mg/day")
    ended_from = "dateEnded" if version == "DSTU2" else "dispenseRequest.validityPeriod.end"
    assert f"({ended_from}), 20 days ago" in card["detail"]
    update = suggestion(card, "Step imatinib back")["actions"][0]["resource"]
    assert update["resourceType"] == ("MedicationOrder" if version == "DSTU2" else "MedicationRequest")
    trough = trough_resource(card)
    assert trough["resourceType"] == trough_type
    for written in (update, trough):
        assert validation_problems(written, emitted_version(written)) == []


def test_the_end_in_a_dosage_bounds_period_counts(call):
    body = renewal()
    stopped = body["prefetch"]["medicationHistory"]["entry"][0]["resource"]
    del stopped["dispenseRequest"]
    stopped["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {"start": ago(40), "end": ago(2)}
    [card] = de_induction_cards(call(body))
    assert card["summary"].startswith("Rifampin stopped 2 days ago")
    assert "boundsPeriod.end" in card["detail"]


def test_no_card_without_imatinib(call):
    body = renewal()
    body["context"]["draftOrders"]["entry"] = []
    body["prefetch"]["activeMedications"] = None
    assert de_induction_cards(call(body)) == []


@pytest.mark.parametrize(
    ("text", "utc_day", "precision"),
    [
        ("2026-11-20T23:30:00-05:00", "2026-11-21", "time"),
        ("2026-11-21T00:30:00+02:00", "2026-11-20", "time"),
        ("2026-11-20T10:00:00Z", "2026-11-20", "time"),
        ("2026-11-20", "2026-11-20", "day"),
        ("2026-11", "2026-11-01", "month"),
        ("2026", "2026-01-01", "year"),
    ],
)
def test_dates_are_read_as_instants_with_their_precision(text, utc_day, precision):
    instant = parse_instant(text)
    assert instant is not None
    assert instant.day.isoformat() == utc_day
    assert instant.precision == precision


@pytest.mark.parametrize("text", ["2026-02-30", "2026-11-20T25:00:00Z", "20 Nov 2026", "", None, 20261120])
def test_what_is_not_a_date_is_not_read_as_one(text):
    assert parse_instant(text) is None


def test_an_active_raised_dose_is_flagged_when_something_else_is_ordered_without_touching_the_order(call):
    body = renewal(stopped_days_ago=20, started_days_ago=60)
    # A medicine the service knows is being ordered (a strong inhibitor); imatinib is not.
    body["context"]["draftOrders"]["entry"] = [
        {"resource": order("R4", "clari", "clarithromycin 500 mg tablet", status="draft", mg=500)}
    ]
    [card] = de_induction_cards(call(body))
    assert card["summary"] == "Rifampin stopped 20 days ago: imatinib still 600 mg/day; step back to 400 mg/day"
    assert "now: 600 mg/day (imatinib 400 MG Oral Tablet, an active order)" in card["detail"]
    # An active order cannot be updated by a card: only the trough is offered.
    assert [s["label"] for s in card["suggestions"]] == ["Order an imatinib trough level"]
    # The inhibitor card's "no dose change" is for the inhibitor alone and says the step back stands.
    [inhibitor] = [c for c in cards_of(call(body))
                   if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inhibitor"]
    assert "the step back after rifampin was stopped, on its own card, stands" in inhibitor["detail"]


def test_imatinib_started_during_the_inducer_and_raised_steps_back_to_its_first_dose(call):
    body = renewal(started_days_ago=30)
    history = body["prefetch"]["medicationHistory"]["entry"]
    # The first imatinib order was written after rifampin started: there is no dose from before it.
    history[1]["resource"]["authoredOn"] = ago(25)
    history[2]["resource"]["authoredOn"] = ago(15)
    body["prefetch"]["activeMedications"]["entry"][0]["resource"]["authoredOn"] = ago(15)
    [card] = de_induction_cards(call(body))
    assert "first dose recorded during it: 400 mg/day" in card["detail"]
    assert "400 mg/day is the first dose recorded during rifampin; no dose before it is in the history" in (
        card["detail"]
    )


@pytest.mark.parametrize("where", ["order", "statement"])
def test_an_active_record_whose_own_end_date_passed_is_an_ended_inducer_not_a_current_one(call, where):
    # Status still "active", but the dosage's bounds (or the statement's period) ended 4 days ago.
    body = renewal()
    history = body["prefetch"]["medicationHistory"]["entry"]
    rifampin = history.pop(0)["resource"]
    if where == "order":
        rifampin["status"] = "active"
        del rifampin["dispenseRequest"]
        rifampin["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {"start": ago(40), "end": ago(4)}
        body["prefetch"]["activeMedications"]["entry"].append({"resource": rifampin})
    else:
        body["prefetch"]["medicationStatements"] = bundle(
            statement("R4", "rif-taken", "rifampin 600 mg capsules", start=ago(40), end=ago(4)))
    cards = cards_of(call(body))
    assert "imatinib-strong-cyp3a4-inducer" not in [c["source"]["topic"]["code"] for c in cards]
    [card] = de_induction_cards(call(body))
    assert card["summary"].startswith("Rifampin stopped 4 days ago: step imatinib back to 400 mg/day")


def test_a_statement_recorded_as_stopped_without_an_end_date_ended_by_the_day_it_was_recorded(call):
    cbz = statement("R4", "cbz", "carbamazepine 200 mg tablets", status="stopped", start=ago(90))
    cbz["dateAsserted"] = ago(6)
    draft = order("R4", "imatinib-draft", "imatinib 400 MG Oral Tablet", status="draft", mg=600)
    history = [order("R4", "im-400", "imatinib 400 MG Oral Tablet", status="completed", mg=400, authored=ago(200)),
               order("R4", "im-600", "imatinib 400 MG Oral Tablet", status="completed", mg=600, authored=ago(80))]
    body = hook_request("order-sign", [draft], prefetch={
        "stoppedMedicationStatements": bundle(cbz), "medicationHistory": bundle(*history),
    })
    [card] = de_induction_cards(call(body))
    assert card["summary"].startswith("Carbamazepine stopped 6 days ago")
    assert "by dateAsserted, the day it was recorded as stopped" in card["detail"]


def without_stop_date(body: dict) -> dict:
    """The stopped inducer order of `renewal` with no end recorded anywhere: only its status says it stopped."""
    for key in ("medicationHistory", "medicationOrderHistory"):
        for entry in (body["prefetch"].get(key) or {}).get("entry", ()):
            resource = entry["resource"]
            if resource["id"] == "inducer-stopped":
                resource.pop("dateEnded", None)
                resource.pop("dispenseRequest", None)
    return body


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize("status", ["stopped", "completed"])
def test_an_inducer_order_stopped_with_no_stop_date_asks_when_and_gives_the_latest_step_back(call, version, status):
    body = without_stop_date(renewal(version, stopped_days_ago=5, started_days_ago=32))
    for key in ("medicationHistory", "medicationOrderHistory"):
        for entry in (body["prefetch"].get(key) or {}).get("entry", ()):
            if entry["resource"]["id"] == "inducer-stopped":
                entry["resource"]["status"] = status
    [card] = de_induction_cards(call(body))
    latest = (today() + timedelta(days=14)).isoformat()
    assert card["summary"] == ("Rifampin recorded as stopped, no stop date: imatinib still 600 mg/day; step back to "
                               "400 mg/day 14 days after the stop")
    assert f"with no stop date: it stopped between {ago(32)}, when it was written, and today" in card["detail"]
    assert "Ask when rifampin was stopped" in card["detail"]
    assert f"by **{latest}** at the latest, or now if it stopped more than 14 days ago" in card["detail"]
    # No dose change from a date the record does not give: only the trough, dated from the latest step back.
    assert [s["label"] for s in card["suggestions"]] == ["Order an imatinib trough level"]


def test_an_inducer_order_without_a_stop_date_written_before_the_look_back_gives_no_card(call):
    assert de_induction_cards(call(without_stop_date(renewal(stopped_days_ago=5, started_days_ago=70)))) == []


def with_level(body: dict, value: float, days_ago: int) -> dict:
    level = resource("imatinib-trough-low-r4.json")
    level["valueQuantity"]["value"] = value
    level["effectiveDateTime"] = f"{ago(days_ago)}T08:00:00Z"
    body["prefetch"]["labResults"] = bundle(level)
    return body


def tdm_cards(response) -> list[dict]:
    return [c for c in cards_of(response) if c["source"]["topic"]["code"] == "imatinib-tdm"]


def test_a_level_drawn_under_the_stopped_inducer_is_not_fitted_beside_the_step_back(call):
    """Fitted, a trough drawn while rifampin ran reads the induced clearance as the patient's own: the TDM card
    proposed 600 mg/day beside the card stepping back to 400."""
    response = call(with_level(renewal(stopped_days_ago=21, started_days_ago=150), 450, days_ago=40))
    [card] = de_induction_cards(response)
    assert suggestion(card, "Step imatinib back to 400 mg/day")
    assert tdm_cards(response) == []


def test_a_low_level_drawn_under_a_stopped_inducer_is_said_as_found_and_not_fitted(call):
    body = with_level(renewal(stopped_days_ago=21, started_days_ago=150, raised_mg=None, draft_mg=400), 450, 40)
    [card] = tdm_cards(call(body))
    assert card["summary"] == "Imatinib level 450 ng/mL, below the 1000 ng/mL target: no model-based dose"
    assert f"was drawn while rifampin ran or its induction wore off (rifampin stopped {ago(21)})" in card["detail"]
    assert not card.get("suggestions")


def test_a_level_drawn_well_after_the_inducer_stopped_is_fitted(call):
    body = with_level(renewal(stopped_days_ago=40, started_days_ago=150, raised_mg=None, draft_mg=400), 450, 5)
    [card] = tdm_cards(call(body))
    assert card["summary"].startswith("Imatinib trough predicted")


def test_a_level_drawn_after_an_inducer_stopped_with_no_stop_date_is_not_fitted(call):
    """The step-back card takes the undated stop as today at the latest; the TDM card must not fit a level drawn
    since the inducer started as the patient's own exposure (it proposed 800 mg/day beside the step back)."""
    body = with_level(without_stop_date(renewal(stopped_days_ago=5, started_days_ago=40)), 450, days_ago=10)
    response = call(body)
    assert de_induction_cards(response)
    assert tdm_cards(response) == []
    alone = with_level(without_stop_date(renewal(stopped_days_ago=5, started_days_ago=40, raised_mg=None,
                                                 draft_mg=400)), 450, days_ago=10)
    [card] = tdm_cards(call(alone))
    assert "rifampin is recorded as stopped, with no stop date" in card["detail"] and not card.get("suggestions")


def test_an_inducer_end_date_at_the_end_of_the_calendar_is_read_without_failing(call):
    body = with_level(renewal(stopped_days_ago=5, started_days_ago=40, raised_mg=None, draft_mg=400), 450, 10)
    for entry in body["prefetch"]["medicationHistory"]["entry"]:
        if entry["resource"]["id"] == "inducer-stopped":
            entry["resource"]["dispenseRequest"]["validityPeriod"]["end"] = "9999-12-31"
    response = call(body)
    assert response.status_code == 200, response.text
