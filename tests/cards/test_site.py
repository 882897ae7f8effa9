"""The site file (CDS_SITE_FILE): valid forms, each invalid form with a message naming the problem, and
what it changes in the cards (families off, the site's own targets shown beside the label's, indicators)."""

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards import assemble, load_site
from cards.site import FAMILIES
from cds.app import build_app
from cds.clock import fixed
from cds.errors import ConfigError
from cds.settings import Settings
from tests.builders import (
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    observation,
    of_topic,
    tacrolimus,
)
from tests.clock import now as suite_now

PV = "/cds-services/tacrolimus-patient-view"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def client_for(path: Path, tmp_path: Path) -> TestClient:
    offered, policy = assemble(path)
    settings = Settings(database_url="sqlite://", auth="off")
    return TestClient(build_app(offered, settings, (), policy, clock=fixed(suite_now())))


def only(family: str, tmp_path: Path) -> TestClient:
    """The service with every card family but one turned off by a site file: the family must find what it
    needs (the therapy, the indication) by itself, not through another family's work."""
    assert family in FAMILIES
    site = tmp_path / "site.yaml"
    site.write_text("families: {" + ", ".join(f"{key}: false" for key in FAMILIES if key != family) + "}\n")
    return client_for(site, tmp_path)


def kidney_patient(
    level: float, days_after_transplant: int, extra: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    now = suite_now()
    prefetch = full_prefetch([tacrolimus(), *extra])
    prefetch["conditions"] = bundle(
        [
            {
                "resourceType": "Condition",
                "id": "c1",
                "code": {"coding": [{"system": ICD, "code": "Z94.0"}]},
                "onsetDateTime": (now - timedelta(days=days_after_transplant)).isoformat(),
            }
        ]
    )
    when = (now - timedelta(days=2)).isoformat()
    prefetch["observations"] = bundle([observation("l1", "11253-2", level, "ng/mL", when)])
    return hook_request(prefetch=prefetch)


# -- valid forms
def test_no_file_is_the_defaults() -> None:
    site = load_site(None)
    assert site.repeat_hold_days == 7
    assert site.targets == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("site.yaml", "name: Renal unit\nrepeat_hold_days: 3\nfamilies: {topical: false}\n"),
        ("site.json", '{"name": "Renal unit", "repeat_hold_days": 3, "families": {"topical": false}}'),
    ],
)
def test_yaml_or_json(tmp_path: Path, name: str, text: str) -> None:
    site = load_site(write(tmp_path, text, name))
    assert site.name == "Renal unit"
    assert site.repeat_hold_days == 3
    assert not site.enabled("topical")
    assert site.enabled("interactions")


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_site(write(tmp_path, "")).repeat_hold_days == 7
    assert load_site(write(tmp_path, "{}")).repeat_hold_days == 7


# -- every invalid form names the problem
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a list\n", "must hold a mapping of settings, not list"),
        ("colour: blue\n", "colour: Extra inputs are not permitted"),
        ("families: {toppical: false}\n", "families.toppical"),
        ("repeat_hold_days: -1\n", "repeat_hold_days"),
        (
            "targets: [{organ: kidney, from_month: 0, to_month: 3, low: 12, high: 8}]\n",
            "low (12) must be below high (8)",
        ),
        ("targets: [{organ: pancreas, from_month: 0, low: 5, high: 8}]\n", "targets[0].organ: 'pancreas'"),
        ("indicators: {no-such-topic: info}\n", "indicators.no-such-topic: no such card topic"),
        ("indicators: {live-vaccine: warning}\n", "needs acknowledge_lowering_critical"),
        ("indicators: {dosing: loud}\n", "indicators.dosing"),
    ],
)
def test_each_invalid_form_is_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_site(write(tmp_path, text))
    assert message in str(raised.value)
    assert "site.yaml" in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as raised:
        load_site(missing)
    assert str(raised.value) == f"CDS_SITE_FILE {missing}: cannot be read (No such file or directory)"


def test_an_unreadable_json_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_site(write(tmp_path, "{", "site.json"))


# -- what it changes
def test_site_targets_are_used_and_shown_beside_the_label(tmp_path: Path) -> None:
    # adult kidney with mycophenolate, month 2: the label's 4 to 11; the site's protocol 8 to 12
    path = write(tmp_path, "targets: [{organ: kidney, from_month: 0, to_month: 3, low: 8, high: 12}]\n")
    mmf = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
    with client_for(path, tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(kidney_patient(7.0, 60, [mmf])))
    [card] = [c for c in of_topic(response.json()["cards"], "trough-target") if "target" in c["summary"]]
    assert card["summary"].endswith("below target 8 to 12 ng/mL")  # 7 is within the label's, below the site's
    assert "site protocol" in card["detail"]
    assert "US label, adult kidney transplant with mycophenolate" in card["detail"]
    assert "4 to 11 ng/mL" in card["detail"]


def test_outside_the_site_rows_the_label_applies(tmp_path: Path) -> None:
    path = write(tmp_path, "targets: [{organ: kidney, from_month: 0, to_month: 3, low: 8, high: 12}]\n")
    mmf = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
    with client_for(path, tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(kidney_patient(12.5, 200, [mmf])))
    [card] = [c for c in of_topic(response.json()["cards"], "trough-target") if "target" in c["summary"]]
    assert card["summary"].endswith("above target 4 to 11 ng/mL")
    assert "site protocol" not in card["detail"]


def test_a_family_turned_off_gives_no_cards(tmp_path: Path) -> None:
    path = write(tmp_path, "families: {levels: false}\n")
    with client_for(path, tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(kidney_patient(25.0, 200)))
    assert of_topic(response.json()["cards"], "trough-target") == []


def test_an_indicator_raised_shows_on_patient_view(tmp_path: Path) -> None:
    # an in-range level is info (not shown on patient-view); the site makes its topic a warning
    path = write(tmp_path, "indicators: {trough-target: warning}\n")
    with client_for(path, tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(kidney_patient(7.0, 200)))
    [card] = of_topic(response.json()["cards"], "trough-target")
    assert card["indicator"] == "warning"
    assert "within the usual range 5 to 15" in card["summary"]


def test_a_topic_mixing_critical_cards_needs_the_acknowledgement_too(tmp_path: Path) -> None:
    # interaction-raises-level holds grapefruit, nelfinavir and nirmatrelvir (critical): a blanket
    # 'warning' would lower them, so it is refused without a reason
    with pytest.raises(ConfigError, match="interaction-raises-level: its cards can be critical"):
        load_site(write(tmp_path, "indicators: {interaction-raises-level: warning}\n"))


def test_a_critical_topic_lowered_only_with_its_acknowledgement(tmp_path: Path) -> None:
    text = (
        "indicators:\n  interaction-toxicity:\n    indicator: warning\n"
        "    acknowledge_lowering_critical: our pharmacists review every spironolactone order\n"
    )
    spiro = medication_request("m2", "Spironolactone 25 MG Oral Tablet")
    with client_for(write(tmp_path, text), tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(kidney_patient(7.0, 200, [spiro])))
    [card] = of_topic(response.json()["cards"], "interaction-toxicity")
    assert card["indicator"] == "warning"


def test_the_preview_page_shows_the_site_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "name: Renal unit\nrepeat_hold_days: 3\nfamilies: {topical: false}\n")
    with client_for(path, tmp_path) as client:
        page = client.get("/").text
    assert "Site settings in force" in page
    assert "Renal unit" in page
    assert "3 days" in page
    assert "topical" in page


def test_with_the_level_family_off_an_unjudged_trough_is_not_announced(tmp_path: Path) -> None:
    body = kidney_patient(9.0, 200)
    body["prefetch"]["conditions"] = bundle([])  # no indication: the trough cannot be judged
    with client_for(write(tmp_path, "families: {interactions: true}\n"), tmp_path) as client:
        [gap] = of_topic(client.post(PV, content=orjson.dumps(body)).json()["cards"], "data-incomplete")
    assert "tacrolimus trough 9 ng/mL" in gap["summary"]
    off = tmp_path / "off"
    off.mkdir()
    with client_for(write(off, "families: {levels: false}\n"), off) as client:
        cards = client.post(PV, content=orjson.dumps(body)).json()["cards"]
    assert of_topic(cards, "data-incomplete") == []  # the site does not want levels judged


# The topics whose cards can be critical, from the README's card table (the sources' "avoid", "should not
# be used", "contraindicated"): a site lowers them only with a reason. The others it may change freely.
CRITICAL_TOPICS = [
    "interaction-raises-level",
    "interaction-toxicity",
    "live-vaccine",
    "hypersensitivity",
    "topical-use",
]
NEVER_CRITICAL = ["interaction-lowers-level", "trough-target", "dosing", "treatment-duration", "pregnancy"]


@pytest.mark.parametrize("topic", CRITICAL_TOPICS)
def test_lowering_a_topic_that_can_be_critical_needs_a_reason(tmp_path: Path, topic: str) -> None:
    with pytest.raises(ConfigError, match=f"indicators.{topic}: its cards can be critical"):
        load_site(write(tmp_path, f"indicators: {{{topic}: warning}}\n"))
    assert load_site(write(tmp_path, f"indicators: {{{topic}: critical}}\n")).indicator(topic) is not None
    reason = "acknowledge_lowering_critical: our pharmacists review each"
    text = f"indicators:\n  {topic}:\n    indicator: info\n    {reason}\n"
    assert load_site(write(tmp_path, text)).indicator(topic) is not None


@pytest.mark.parametrize("topic", NEVER_CRITICAL)
def test_a_topic_that_is_never_critical_is_changed_freely(tmp_path: Path, topic: str) -> None:
    change = load_site(write(tmp_path, f"indicators: {{{topic}: info}}\n")).indicator(topic)
    assert change is not None
    assert change.indicator == "info"


def test_the_error_says_what_the_acknowledgement_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_site(write(tmp_path, "indicators: {hypersensitivity: info}\n"))
    assert str(raised.value).endswith(
        "indicators.hypersensitivity: its cards can be critical (the source says avoid); lowering them to"
        " 'info' needs acknowledge_lowering_critical: the reason"
    )


def test_site_targets_are_for_transplants_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"targets\[0\].organ: 'ulcerative-colitis' is not one of"):
        load_site(
            write(tmp_path, "targets: [{organ: ulcerative-colitis, from_month: 0, low: 10, high: 15}]\n")
        )


def test_what_the_site_file_sets_is_described(tmp_path: Path) -> None:
    text = (
        "name: Renal unit\nrepeat_hold_days: 3\nlevel_stale_after_days: 60\nfamilies: {topical: false}\n"
        "targets:\n  - {organ: kidney, from_month: 0, to_month: 3, low: 8, high: 12}\n"
        "  - {organ: kidney, from_month: 3, low: 5, high: 10}\n"
        "indicators:\n  trough-target: warning\n"
        "  live-vaccine: {indicator: warning, acknowledge_lowering_critical: the transplant team decides}\n"
    )
    assert load_site(write(tmp_path, text)).describe() == {
        "name": "Renal unit",
        "families off": ["topical"],
        "site trough targets": [
            "kidney any: months 0 to 3: 8 to 12 ng/mL",
            "kidney any: months 3 to onwards: 5 to 10 ng/mL",
        ],
        "indicator changes": {"trough-target": "warning", "live-vaccine": "warning"},  # both forms
        "repeat hold": "3 days",
        "level due after": "60 days (site)",
    }
    assert load_site(write(tmp_path, "repeat_hold_days: 0\n")).describe() == {
        "name": "(none)",
        "families off": "none",
        "site trough targets": "none (the label's and the monograph's)",
        "indicator changes": "none",
        "repeat hold": "off",
        "level due after": "the project's default",
    }


def test_a_json_site_file_by_its_suffix_in_any_case(tmp_path: Path) -> None:
    assert (
        load_site(write(tmp_path, '{"name": "Unit\u00e9 r\u00e9nale"}', "SITE.JSON")).name
        == "Unit\u00e9 r\u00e9nale"
    )


def test_up_to_five_problems_are_named_at_once(tmp_path: Path) -> None:
    text = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n"
    with pytest.raises(ConfigError) as raised:
        load_site(write(tmp_path, text))
    message = str(raised.value)
    assert "a: Extra inputs are not permitted; b: Extra inputs" in message
    assert "e: Extra inputs are not permitted" in message
    assert "f: Extra" not in message


def site_target_line(client: TestClient, body: dict[str, Any]) -> str:
    response = client.post(PV, content=orjson.dumps(body))
    [card] = [c for c in of_topic(response.json()["cards"], "trough-target") if "target" in c["summary"]]
    detail: str = card["detail"]
    return detail.splitlines()[1][2:]


def test_a_site_target_says_what_the_label_says_beside_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets: [{organ: kidney, from_month: 0, to_month: 3, low: 8, high: 12},"
        " {organ: lung, from_month: 12, low: 6, high: 10}]\n",
    )
    mmf = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
    lung = kidney_patient(5.0, 400)
    lung["prefetch"]["conditions"]["entry"][0]["resource"]["code"]["coding"][0]["code"] = "Z94.2"
    with client_for(path, tmp_path) as client:
        kidney = site_target_line(client, kidney_patient(7.0, 60, [mmf]))
        after_the_label = site_target_line(client, lung)
    transplanted = (suite_now() - timedelta(days=60)).date().isoformat()
    assert kidney == (
        f"Target 8 to 12 ng/mL (site protocol, months 1 to 3 after transplant, transplant on {transplanted};"
        " beside it the US label, adult kidney transplant with mycophenolate mofetil or an IL-2 receptor"
        " antagonist (the label's MMF/IL-2RA row), months 1 to 12 after transplant: 4 to 11 ng/mL)."
    )
    # lung after month 12: the label's table ends, and the monograph gives no lung range
    assert after_the_label.startswith("Target 6 to 10 ng/mL (site protocol, from month 13 after transplant,")
    assert after_the_label.endswith("; neither the label nor the monograph gives a range here).")


# months are days / 30.44: 761 days are exactly 25 months, where a site's second row begins (from_month
# inclusive, to_month exclusive)
@pytest.mark.parametrize(("days", "target"), [(760, "8 to 12"), (761, "5 to 10")])
def test_a_site_row_ends_where_the_next_begins(tmp_path: Path, days: int, target: str) -> None:
    path = write(
        tmp_path,
        "targets: [{organ: kidney, from_month: 0, to_month: 25, low: 8, high: 12},"
        " {organ: kidney, from_month: 25, low: 5, high: 10}]\n",
    )
    with client_for(path, tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(kidney_patient(13.0, days)))  # above both
    [card] = [c for c in of_topic(response.json()["cards"], "trough-target") if "target" in c["summary"]]
    assert card["summary"].endswith(f"above target {target} ng/mL")


@pytest.mark.parametrize("name", ["site.json", "SITE.JSON"])
def test_a_json_file_holding_yaml_is_refused(tmp_path: Path, name: str) -> None:
    # the suffix decides how the file is read: YAML in a .json file is not valid JSON
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_site(write(tmp_path, "name: Renal unit\n", name))


def test_the_file_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    # a service started in the POSIX locale without UTF-8 mode (Python then reads text files as ASCII)
    path = tmp_path / "site.yaml"
    path.write_bytes("name: Unit\u00e9 r\u00e9nale\n".encode())
    assert load_site(path).name == "Unit\u00e9 r\u00e9nale"  # in this process's own locale, too
    script = (
        "import sys; from pathlib import Path; from cards import load_site;"
        " print(ascii(load_site(Path(sys.argv[1])).name))"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "'Unit\\xe9 r\\xe9nale'", done.stderr


def trough_days_ago(days: int) -> dict[str, Any]:
    """An adult kidney recipient years out (the monograph's maintenance range) with one trough of 7 ng/mL."""
    body = kidney_patient(7.0, 2000)
    when = (suite_now() - timedelta(days=days)).isoformat()
    body["prefetch"]["observations"] = bundle([observation("l1", "11253-2", 7.0, "ng/mL", when)])
    return body


# The site's level_stale_after_days replaces the project's 90 days: a trough older than 60 days is due.
@pytest.mark.parametrize(("days", "due"), [(60, False), (61, True)])
def test_the_sites_own_interval_for_a_level(tmp_path: Path, days: int, due: bool) -> None:
    with client_for(write(tmp_path, "level_stale_after_days: 60\n"), tmp_path) as client:
        response = client.post(PV, content=orjson.dumps(trough_days_ago(days)))
    summaries = [c["summary"] for c in of_topic(response.json()["cards"], "trough-target")]
    dated = (suite_now() - timedelta(days=days)).date().isoformat()
    expected = f"Tacrolimus level due: the last trough was 7 ng/mL on {dated}, {days} days ago"
    assert (expected in summaries) is due
    assert not [s for s in summaries if s.startswith("Tacrolimus level due") and s != expected]


def test_a_site_rows_note_names_its_window(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'targets: [{organ: kidney, from_month: 3, low: 5, high: 8, note: "maintenance"}]\n'
    )
    mmf = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
    with client_for(path, tmp_path) as client:
        line = site_target_line(client, kidney_patient(9.0, 200, [mmf]))  # above 8: a warning
    transplanted = (suite_now() - timedelta(days=200)).date().isoformat()
    assert line == (
        f"Target 5 to 8 ng/mL (site protocol, maintenance, transplant on {transplanted}; beside it the US"
        " label, adult kidney transplant with mycophenolate mofetil or an IL-2 receptor antagonist (the"
        " label's MMF/IL-2RA row), months 1 to 12 after transplant: 4 to 11 ng/mL)."
    )
