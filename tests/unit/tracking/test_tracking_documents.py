"""A case's document in tracking's store: the view it keeps reads back as the view written,
whether written now (LZ4) or before (zlib), through the store's own encoding (BSON)."""

from __future__ import annotations

import zlib

import bson
from unit.tracking.tracking_stories import a_long_handling

from services.tracking.store import VIEW_LZ4, document, view_of
from services.tracking.timeline import CaseView, fold

CODEC = bson.CodecOptions(tz_aware=True)


def a_view() -> CaseView:
    view = fold(None, a_long_handling().envelopes)
    assert view is not None
    return view


def stored(doc: dict[str, object]) -> dict[str, object]:
    """The document as a read from the store gives it back."""
    return bson.decode(bson.encode(doc), codec_options=CODEC)


def test_a_document_reads_back_as_the_view_it_was_written_from() -> None:
    view = a_view()
    doc = stored(document(view))
    packed = doc["view"]
    assert isinstance(packed, bytes) and packed[:1] == VIEW_LZ4
    assert len(packed) < len(view.model_dump_json().encode()) / 2
    assert view_of(doc) == view


def test_a_document_written_before_with_a_zlib_view_still_reads() -> None:
    view = a_view()
    before = {**document(view), "view": zlib.compress(view.model_dump_json().encode(), 1)}
    assert view_of(stored(before)) == view
