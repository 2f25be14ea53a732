"""A server for a benchmark, run in a child process: `python -m zaiban.bench.serve <app> --port N`.

Settings come from the environment (`ZAIBAN_*`), as for `zaiban serve`. The
apps: every service (`intake`, `tracking`, `metrics`, ...: a service alone, as production runs
it), and the baselines `bare` (validate and send) and `bare-pipeline` (send, consume, read back).
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from services.common.http import build_app
from services.common.settings import CommonSettings
from services.composition import SERVICES, build
from zaiban.bench.baseline import pipeline_app, submit_app

APPS = (*SERVICES, "bare", "bare-pipeline")


def app_named(name: str, settings: CommonSettings) -> FastAPI:
    if name in SERVICES:
        return build_app([build(name, settings)], title=f"zaiban {name} (bench)")
    if name == "bare":
        return submit_app(settings)
    if name == "bare-pipeline":
        return pipeline_app(settings)
    raise SystemExit(f"no bench app {name!r}; one of: {', '.join(APPS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=APPS)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = CommonSettings()
    uvicorn.run(app_named(args.app, settings), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
