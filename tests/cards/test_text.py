"""What every card shares (cards/text.py): names clipped into a summary or a label at a word boundary, and a
card built from a knowledge text. The limits are the CDS Hooks ones (checklist CARD-2: a summary is under
140 characters; CARD-7: selectionBehavior goes with suggestions)."""

import pytest

from cards.knowledge import Knowledge, load
from cards.text import MAX_SUMMARY, CardMaker, clip
from cds.models import Suggestion


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load()


def test_a_name_that_fits_is_left_whole() -> None:
    assert clip("Tacrolimus 1 MG Oral Capsule [Prograf]") == "Tacrolimus 1 MG Oral Capsule [Prograf]"


def test_a_clipped_name_with_its_ellipsis_stays_within_the_limit() -> None:
    # "and" ends at the 40th character: kept with the ellipsis it would make 41
    name = "Furosemide 40 MG Oral Tablet [LASIX] and bumetanide"
    assert clip(name, 40) == "Furosemide 40 MG Oral Tablet [LASIX]…"
    assert len(clip(name, 40)) <= 40


def test_a_clipped_list_of_substances_does_not_end_on_its_comma() -> None:
    name = "Erythromycin, clarithromycin, azithromycin and other macrolides"
    assert clip(name, 40) == "Erythromycin, clarithromycin…"


def test_a_clipped_name_keeps_the_whole_of_its_last_word() -> None:
    # a brand written in capitals: its final X is part of the name, not punctuation
    name = "Clopidogrel 75 MG Oral Tablet PLAVIX film-coated tablets"
    assert clip(name, 40) == "Clopidogrel 75 MG Oral Tablet PLAVIX…"


def test_a_card_summary_is_clipped_under_140_characters(knowledge: Knowledge) -> None:
    text = knowledge.dosing.cards["start"]
    summary = "Starting tacrolimus for " + "a kidney transplant recipient, " * 5 + "dose not checked"
    card = CardMaker(knowledge).card(text, "dosing", knowledge.dosing.citations["targets"], summary=summary)
    assert len(card.summary) <= MAX_SUMMARY < 140
    assert card.summary.startswith("Starting tacrolimus for a kidney transplant recipient,")
    assert card.summary == (
        "Starting tacrolimus for a kidney transplant recipient, a kidney transplant recipient, a kidney"
        " transplant recipient, a kidney transplant…"
    )


def test_selection_behavior_is_sent_only_with_suggestions(knowledge: Knowledge) -> None:
    maker, text = CardMaker(knowledge), knowledge.dosing.cards["start"]
    citations = knowledge.dosing.citations["targets"]
    plain = maker.card(text, "dosing", citations)
    assert "selectionBehavior" not in plain.to_json()
    level = Suggestion(label="Order a tacrolimus level")
    offered = maker.card(text, "dosing", citations, suggestions=[level])
    assert offered.to_json()["selectionBehavior"] == "at-most-one"
