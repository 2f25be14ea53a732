"""`zaiban bench`: how fast zaiban is, against the fastest the same machine does the same work."""
