"""Models kept in memory for long, made smaller by sharing what pydantic keeps per instance.

Every pydantic model instance holds the set of the fields it was given when it was made
(`model_fields_set`): a set of up to 30 names, a few hundred bytes to 2 KB. A case view of
tracking holds some 17 models (the view, its facts, its location, each step of its timeline
and who took it…), and their sets were half of the 24 KB a parsed view takes. Tracking keeps
2,000 views in memory (`KEPT_VIEWS`), intake and routing 2,000 cases each (`KEPT_CASES`).

A frozen model never changes its set (a copy made with `model_copy` gets a copy of it), so
frozen instances whose sets are equal can share one: `compact` makes them. Nothing here
reads the sets (no `exclude_unset`); if something did, it would read the same names.
"""

from __future__ import annotations

from functools import cache
from typing import get_args

from pydantic import BaseModel

_SHARED: dict[frozenset[str], set[str]] = {}
"""One set for each distinct fields-set met (a few dozen: one or two per model type)."""
_SHARED_IDS: set[int] = set()
"""The ids of the shared sets (kept in `_SHARED`, so their ids stay theirs)."""
MAX_SHARED = 4_096
"""Distinct sets shared at most; past it, a model keeps its own (nothing grows unbounded)."""


def compact(model: BaseModel) -> None:
    """Share the fields-sets of `model` and of the frozen models in it: in its fields typed
    to hold models, directly or in tuples and lists (`_holders`). A model whose set is
    shared already is compact throughout (its parts are done before it), so a view folded
    from a compact one costs only its new parts (~2 µs an event in tracking's fold)."""
    own = model.__pydantic_fields_set__
    if id(own) in _SHARED_IDS:
        return
    values = model.__dict__
    for name in _holders(type(model)):
        part = values.get(name)
        if isinstance(part, BaseModel):
            compact(part)
        elif isinstance(part, tuple | list):
            for item in part:
                if isinstance(item, BaseModel):
                    compact(item)
    if model.model_config.get("frozen"):
        _share(model, own)


@cache
def _holders(model_type: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model_type` whose type names a model (`Location | None`,
    `tuple[Entry, ...]`): the only ones `compact` looks into (a parsed view has some 200
    values, a dozen of them models)."""
    return tuple(name for name, field in model_type.model_fields.items()
                 if _names_a_model(field.annotation, depth=0))


def _names_a_model(annotation: object, *, depth: int) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    # a recursive alias (a JSON value) would go on for ever: models sit near the top
    return depth < 4 and any(_names_a_model(arg, depth=depth + 1)
                             for arg in get_args(annotation))


def _share(model: BaseModel, own: set[str]) -> None:
    key = frozenset(own)
    shared = _SHARED.get(key)
    if shared is None:
        if len(_SHARED) >= MAX_SHARED:
            return
        shared = _SHARED[key] = own
        _SHARED_IDS.add(id(own))
    if shared is not own:
        object.__setattr__(model, "__pydantic_fields_set__", shared)
