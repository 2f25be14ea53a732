"""Every ZAIBAN_ variable the deployment files name is one the code reads: a field of a
settings class (CommonSettings, a service's own) or one `zaiban infra` reads. A typo here
would otherwise be ignored silently (the settings ignore unknown variables)."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit.deploy.manifests import (
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    NGINX_CONF,
    REPO,
    k8s_yaml_files,
    known_variables,
    named_variables,
)

FILES = [COMPOSE, DOCKERFILE, NGINX_CONF, DEPLOY / "README.md", *k8s_yaml_files()]


def test_the_known_variables_come_from_the_settings_models() -> None:
    known = known_variables()
    assert {"ZAIBAN_KAFKA_BOOTSTRAP", "ZAIBAN_WRITE_CONCERN_MAJORITY",  # CommonSettings
            "ZAIBAN_FEEDBACK_WINDOW",                                   # RoutingSettings
            "ZAIBAN_HOME"} <= known                                     # zaiban infra


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_variable_named_is_a_setting(path: Path) -> None:
    unknown = named_variables(path.read_text(encoding="utf-8")) - known_variables()
    assert not unknown, f"{path.relative_to(REPO)} names variables no settings read: {unknown}"


def test_the_operations_section_of_the_readme_names_only_settings() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "\n## Operations\n" in readme
    section = readme.split("\n## Operations\n", 1)[1].split("\n## ", 1)[0]
    assert not named_variables(section) - known_variables()
