"""Open311 GeoReport v2: what every Open311 route shares.

zaiban serves GeoReport v2 (http://wiki.open311.org/GeoReport_v2) under
`/open311/v2`, split between the services that own the data: intake answers
discovery, the service list, service definitions and `POST requests`
(`services/intake/open311/`); tracking answers `GET requests`, one request and
tokens (`services/tracking/open311/`). On the public entry they are one server.

The shared parts, one job each:

- `formats.py`: the spec's XML and JSON, and its date-times (`answer`, `w3c`);
- `errors.py`: every failure in the spec's error shape (`Open311Error`,
  `Open311Route`, `error_for` for the app's handlers);
- `params.py`: reading parameters (once, comma lists, W3C dates, the
  jurisdiction, the format in the URL, the language).
"""

BASE_PATH = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"

MAX_REQUESTS = 1000
"""At most this many requests answer one query (the spec's response volume)."""
