"""Metrics: the public figures (received, resolved, 辦結率 ...), kept as counters as events arrive.

The pure part, one job per module:
    definitions.py  what each published figure counts, in zh-Hans, zh-Hant and en
    marks.py        one case as the figures see it, and what it adds to the counters
    counters.py     the counter keys (`received|category=roads`), summing counters
    histograms.py   duration buckets and the quantiles estimated from them
    ledger.py       the fold of a partition's records into its counters (live and replay)
    report.py       from counters to rows, breakdowns and the department ranking
    periods.py      the periods a reader may ask for (a day, month, quarter, year, from/to)
    daily.py        the counters by submission day, what a period's figures are summed from
The edges: store.py (the ledger in the document store), api.py (HTTP and CSV),
telemetry.py (Prometheus), service.py (wiring), replay.py (rebuild from offset 0).
"""
