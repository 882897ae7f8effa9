"""cards.relevance.TacrolimusScan on its own: what it may and may not answer False for. The agreement with
the full evaluation over whole requests is in tests/cards/test_fast_path.py."""

from cards.drugs import TACROLIMUS
from cards.relevance import TacrolimusScan


class Markers:
    """An identifier with given markers: the scan asks it for nothing else."""

    def __init__(self, *markers: str) -> None:
        self._markers = frozenset(markers)

    def markers(self, ingredient: str = TACROLIMUS) -> frozenset[str]:
        assert ingredient == TACROLIMUS
        return self._markers


def test_a_marker_in_any_case_is_found() -> None:
    scan = TacrolimusScan(Markers("tacrolimus", "l04ad02"))  # type: ignore[arg-type]
    assert scan([{"text": "TACROLIMUS 1 mg capsule"}])
    assert scan([{"code": "L04AD02"}])
    assert not scan([{"text": "Ciclosporin 25 mg capsule"}])


def test_a_code_written_with_a_letter_whose_upper_case_is_ascii_is_found() -> None:
    """The drug identifier upper-cases an ATC code before it looks it up, so "\u017f01" (long s, U+017F)
    reads as S01; no tacrolimus code holds an S or an I today, so the identifier here is given one."""
    scan = TacrolimusScan(Markers("tacrolimus", "s01"))  # type: ignore[arg-type]
    assert scan([{"code": "\u017f01"}])
    assert not scan([{"code": "\u017f02"}])
    assert not scan([{"text": "ciclospor\u0131n"}])  # non-ASCII, and no marker either way


def test_a_part_that_is_not_json_is_left_to_the_full_evaluation() -> None:
    # an integer past 64 bits cannot be written by orjson: the scan cannot read it, so it cannot say "no"
    scan = TacrolimusScan(Markers("tacrolimus"))  # type: ignore[arg-type]
    assert scan([{"quantity": 2**70}])
    assert not scan([{"quantity": 2}])
