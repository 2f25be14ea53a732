"""Open311 GeoReport v2, intake's half: discovery, the service list, service
definitions, and `POST requests` (tracking answers the reads of requests;
the shared protocol is `services/common/open311/`).

A service is a category of the catalogue (`deploy/config/catalogue.yaml`):
its code is the service_code, its questions are the attributes of its
definition. Every request is `realtime`: POST answers the case number as the
service_request_id once the `CaseSubmitted` event is durable in Kafka, so it
returns no token (the spec: one or the other). It also answers, as the extension
field `zaiban_tracking_code`, the case's tracking code for the resident (`format.py`).
GeoReport v2 has no consent, so POST takes two extension parameters: `zaiban_notify=true`
(the resident agreed to be told when the case moves) and `zaiban_channels=email,sms` (how),
kept in the sealed contact like the web form's consent (`parse.py`).

- `parse.py`: how a GeoReport POST becomes a case (`read_submission`);
- `format.py`: the catalogue as discovery, services and service definitions,
  and the POST's answer;
- `routes.py`: the routes, which only join the two to the intake service.
"""
