"""Open311 GeoReport v2, tracking's half: `GET requests`, `GET requests/{id}` and
`GET tokens/{token}`, read from tracking's own timelines (intake answers
discovery, services and `POST requests`; the shared protocol is
`services/common/open311/`).

- `format.py`: how a case is shown as a GeoReport request (`request_row`),
  and what it never shows;
- `parse.py`: what a `GET requests` asks (`read_query`): ids, services,
  statuses, a window of dates;
- `routes.py`: the routes, which only join the two to the timeline store, and
  what a token is here.
"""
