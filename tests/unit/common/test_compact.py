"""Views and cases kept in memory share their fields-sets, and stay what they were."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from unit.tracking.tracking_stories import a_disputed_case, a_long_handling, reference_case

from services.common.compact import compact
from services.tracking.timeline import CaseView, fold


def views() -> list[CaseView]:
    folded = [fold(None, story().envelopes) for story in
              (reference_case, a_long_handling, a_disputed_case)]
    return [view for view in folded if view is not None]


def test_compact_views_are_equal_to_what_they_were_and_share_their_sets() -> None:
    kept = views()
    before = [(view, view.model_dump(mode="json"), view.timeline[0].model_fields_set)
              for view in (v.model_copy(deep=True) for v in kept)]
    for view in kept:
        compact(view)
    for view, (was, dumped, first_step_set) in zip(kept, before, strict=True):
        assert view == was and view.model_dump(mode="json") == dumped
        assert view.timeline[0].model_fields_set == first_step_set
    parts = [part for view in kept
             for part in (view, view.facts, *view.timeline, *(e.who for e in view.timeline))]
    sets = [part.model_fields_set for part in parts]
    # one set object for each distinct set of names
    assert len({id(names) for names in sets}) == len({frozenset(names) for names in sets})
    assert len({id(names) for names in sets}) < len(parts) / 5
    first = kept[0]
    # a view read from the store (as a list reads it), and read again: the same sets
    read, again = (CaseView.model_validate_json(first.model_dump_json()) for _ in range(2))
    assert again.facts.model_fields_set is not read.facts.model_fields_set
    compact(read)
    compact(again)
    assert again.facts.model_fields_set is read.facts.model_fields_set
    assert again == read == first


def test_a_copy_of_a_compact_view_changes_no_other_view() -> None:
    first, second = views()[:2]
    compact(first)
    compact(second)
    shared = set(second.facts.model_fields_set)
    moved = first.facts.model_copy(update={"merged_into": "ZB261006-MRG0-0001"})
    assert "merged_into" in moved.model_fields_set
    assert second.facts.model_fields_set == shared  # the copy got a set of its own
    assert first.facts.merged_into is None


class Draft(BaseModel):
    """Not frozen: an assignment adds to its fields-set, so it keeps its own."""

    title: str
    note: str = ""


class Story(BaseModel):
    model_config = ConfigDict(frozen=True)

    drafts: tuple[Draft, ...]


def test_a_model_that_may_change_keeps_its_own_set() -> None:
    one, other = Story(drafts=(Draft(title="a"),)), Story(drafts=(Draft(title="b"),))
    compact(one)
    compact(other)
    assert one.model_fields_set is other.model_fields_set  # frozen: shared
    assert one.drafts[0].model_fields_set is not other.drafts[0].model_fields_set
    one.drafts[0].note = "changed"
    assert other.drafts[0].model_fields_set == {"title"}
