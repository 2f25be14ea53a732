"""The `zaiban` command: run the local stack, one service, replays, demo data and benchmarks."""

from __future__ import annotations

import typer

from zaiban import infra

app = typer.Typer(help="zaiban — citizen requests, handled in the open.", no_args_is_help=True)
app.add_typer(infra.app, name="infra", help="Start, stop and inspect the local Kafka broker and document store.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
