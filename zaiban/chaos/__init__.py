"""`zaiban chaos`: the real services, driven by clients over HTTP, through injected faults.

`fleet` runs the services as processes (killed, restarted, scaled, given an environment of
their own); `traffic` drives cases through their lifecycle as residents, officers and a
department do; `run` injects a scenario's faults beside the traffic, waits for quiet and
checks what was found; `scenarios` holds the faults; `cli` runs them on a stack of their
own and prints the table. The fault tests (tests/faults/) run the short versions.
"""
