"""The one image every service runs from: what the Dockerfile builds and what it is sent."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch

from unit.deploy.manifests import REPO, dockerfile, dockerignored, env_of_dockerfile


def test_the_image_is_python_3_11_slim_and_runs_the_zaiban_command() -> None:
    instructions = dockerfile()
    *_stages, base = [i.argument for i in instructions if i.keyword == "FROM"]
    assert base == "python:3.11-slim"
    [entrypoint] = [i.exec_form() for i in instructions if i.keyword == "ENTRYPOINT"]
    assert entrypoint == ["zaiban"]
    [command] = [i.exec_form() for i in instructions if i.keyword == "CMD"]
    assert command == ["serve", "public"]
    assert any(i.keyword == "RUN" and "pip install ." in i.argument for i in instructions)


def test_the_services_run_as_a_user_that_is_not_root() -> None:
    keywords = [i.keyword for i in dockerfile()]
    users = [i.argument for i in dockerfile() if i.keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_each_service_listens_on_every_interface_and_reads_the_city_baked_in() -> None:
    env = env_of_dockerfile()
    assert env["ZAIBAN_HOST"] == "0.0.0.0"
    copied_to = {i.argument.split()[-1] for i in dockerfile()
                 if i.keyword == "COPY" and i.argument.split()[0] == "deploy/config"}
    assert copied_to == {env["ZAIBAN_CONFIG_DIR"]}


def test_the_build_context_holds_what_the_image_copies_and_leaves_state_out() -> None:
    sources = [part for i in dockerfile() if i.keyword == "COPY" and "--from=" not in i.argument
               for part in i.argument.split()[:-1] if not part.startswith("--")]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file"
        assert not dockerignored(source), f"COPY {source}: left out by .dockerignore"
    for state in (".venv", ".zaiban", ".git", "tests", "deploy/local", "deploy/kafka-credentials",
                  "services/__pycache__/public.cpython-311.pyc"):
        assert dockerignored(state), f"{state} would be sent to the image build"


def test_pip_install_takes_every_file_the_packages_read() -> None:
    """A file the package needs at run time (templates, scripts, schemas) is package data;
    otherwise `pip install .` in the image leaves it behind and only an editable install works."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    left_behind = [
        path.relative_to(REPO).as_posix()
        for package in ("contracts", "services", "zaiban")
        for path in (REPO / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc", ".pyi")
        and "__pycache__" not in path.parts
        and not any(fnmatch(path.name, pattern) for pattern in patterns)
    ]
    assert not left_behind, f"not package data, missing from the image: {left_behind}"


def test_the_web_pages_map_library_comes_from_npm_ci_of_the_lock() -> None:
    """Leaflet is an npm package, installed from package-lock.json in a stage of its own; the
    image keeps its node_modules where the public entry looks (ZAIBAN_WEB_MODULES)."""
    instructions = dockerfile()
    [stage] = [i.argument for i in instructions if i.keyword == "FROM" and " AS " in i.argument]
    name = stage.split(" AS ")[1].strip()
    assert any(i.keyword == "RUN" and i.argument == "npm ci" for i in instructions)
    [copied] = [i.argument for i in instructions if i.keyword == "COPY"
                and i.argument.startswith(f"--from={name} ")]
    assert copied.split()[-1] == env_of_dockerfile()["ZAIBAN_WEB_MODULES"]
    assert (REPO / "package-lock.json").is_file() and not dockerignored("package-lock.json")
