"""Tracking: the case timeline read model, its public and private views, live updates."""
