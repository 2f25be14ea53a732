"""Schemathesis, generating requests for the fuzz test in a process of its own.

Generating is the slow part (tens of milliseconds a request for the larger bodies),
so it runs here, on the other core, while the test process serves and sends. Reads
one JSON document on stdin: the OpenAPI schema, the real cases and photo to aim at,
the callers' headers, the examples per operation and mode, whether to derandomize.
Writes one JSON line per generated request: the exact bytes to send (what no client
could encode is reported as such), then a last line with what could not be generated.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

BASE_URL = "http://zaiban.test"


def wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request as bytes on the wire. JSON is written with Python's own encoder, so
    NaN, Infinity and escaped lone surrogates do go out (httpx's `json=` refuses them)."""
    headers = dict(kwargs.get("headers") or {})
    content: bytes | None = None
    data = kwargs.get("data")
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(data, str | bytes):
        content, data = (data.encode() if isinstance(data, str) else data), None
    request = httpx.Request(kwargs["method"], kwargs["url"], headers=headers,
                            params=kwargs.get("params") or None, content=content,
                            data=data or None, files=kwargs.get("files") or None)
    body = request.read()
    return {"method": request.method, "url": str(request.url),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in request.headers.raw if k.lower() != b"host"],
            "body": base64.b64encode(body).decode()}


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def explore(operation: Any, mode: GenerationMode, job: dict[str, Any]) -> None:
    """Generate and emit the requests for one operation in one mode."""
    label = f"{operation.method.upper()} {operation.path}"
    cases: list[dict[str, str]] = job["cases"]
    callers: dict[str, dict[str, str]] = job["callers"]

    @settings(max_examples=job["examples"], deadline=None, database=None,
              derandomize=job["derandomize"], phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode),
           caller=st.sampled_from(sorted(callers)),
           real=st.sampled_from([None, *range(len(cases))]))
    def run(case: Any, caller: str, real: int | None) -> None:
        chosen = cases[real] if real is not None else cases[0]
        if real is not None:  # a real case, so that the request gets past "not found"
            values = {"case_id": chosen["case_id"], "tracking_code": chosen["code"],
                      "service_request_id": chosen["case_id"], "media_id": job["photo"]}
            for name in list(case.path_parameters or {}):
                if name in values:
                    case.path_parameters[name] = values[name]
        kwargs = case.as_transport_kwargs(base_url=BASE_URL)
        kwargs["headers"] = {**(kwargs.get("headers") or {}), **callers[caller]}
        if caller == "resident":
            kwargs["headers"]["X-Tracking-Code"] = chosen["code"]
        if caller == "integrator":  # an Open311 client: its API key in the form
            if isinstance(kwargs.get("data"), dict):
                kwargs["data"] = {**kwargs["data"], "api_key": job["api_key"]}
            else:
                kwargs["params"] = {**(kwargs.get("params") or {}), "api_key": job["api_key"]}
        line: dict[str, Any] = {"label": label, "mode": mode.value, "caller": caller}
        try:
            line["request"] = wire(kwargs)
        except Exception as error:  # no client could send this
            line["unsendable"] = type(error).__name__
        line["curl"] = case.as_curl_command(base_url=BASE_URL)[:800]
        emit(line)

    run()


def main() -> None:
    job = json.load(sys.stdin)
    schema = schemathesis.openapi.from_dict(job["openapi"])
    not_generated: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            not_generated.append(f"an operation the schema does not describe well: {result}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                explore(operation, mode, job)
            except Exception as error:  # e.g. an operation with nothing to make invalid
                not_generated.append(f"{operation.method.upper()} {operation.path} "
                                     f"{mode.value}: {type(error).__name__}")
    emit({"done": True, "not_generated": not_generated})


if __name__ == "__main__":
    main()
