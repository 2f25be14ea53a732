"""The deployment files, read as a container engine, Kustomize and nginx would read them.

Nothing here runs a container or a cluster: these are small, strict readers of the files
(YAML, the Dockerfile, the gateway's nginx.conf, the Ingress) so the tests can ask what would
happen — which process a request reaches, which variables a container gets — offline.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from services.common.settings import CommonSettings

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
NGINX_CONF = DEPLOY / "gateway" / "nginx.conf"
OVERLAYS = ("local", "cluster")
IMAGE = "zaiban"  # the image the repository's Dockerfile builds (compose tags it zaiban:local)


# ---- YAML ------------------------------------------------------------------------------------


@functools.cache
def _parsed(path: Path) -> tuple[Any, ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = path.read_text(encoding="utf-8")
    return tuple(doc for doc in yaml.load_all(text, Loader=loader) if doc is not None)


def yaml_documents(path: Path) -> list[Any]:
    """The documents of a YAML file (parsed once per run: read them, do not change them)."""
    return list(_parsed(path.resolve()))


def k8s_yaml_files() -> list[Path]:
    return sorted(K8S.rglob("*.yaml"))


def kustomization_dirs() -> list[Path]:
    return sorted(path.parent for path in DEPLOY.rglob("kustomization.yaml"))


def kustomization(folder: Path) -> dict[str, Any]:
    [doc] = yaml_documents(folder / "kustomization.yaml")
    assert isinstance(doc, dict)
    return doc


def kubernetes_objects(folder: Path) -> list[dict[str, Any]]:
    """The objects a kustomization's `resources` list, recursively (generators not included)."""
    found: list[dict[str, Any]] = []
    for entry in kustomization(folder).get("resources", []):
        target = (folder / entry).resolve()
        if target.is_dir():
            found += kubernetes_objects(target)
        else:
            found += yaml_documents(target)
    return found


def generated_literals(folder: Path, name: str) -> dict[str, str]:
    """A generated ConfigMap's literals after the overlays' `behavior: merge` (as Kustomize)."""
    values: dict[str, str] = {}
    for entry in kustomization(folder).get("resources", []):
        target = (folder / entry).resolve()
        if target.is_dir() and (target / "kustomization.yaml").exists():
            values.update(generated_literals(target, name))
    for generator in kustomization(folder).get("configMapGenerator", []):
        if generator["name"] == name:
            pairs = [literal.split("=", 1) for literal in generator.get("literals", [])]
            values.update({key: value for key, value in pairs})
    return values


def replicas(folder: Path) -> dict[str, int]:
    """Deployment name → replicas, with the overlay's `replicas:` applied."""
    counts = {obj["metadata"]["name"]: obj["spec"].get("replicas", 1)
              for obj in kubernetes_objects(folder) if obj.get("kind") == "Deployment"}
    for entry in kustomization(folder).get("replicas", []):
        counts[entry["name"]] = entry["count"]
    return counts


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj.get("kind") in ("Deployment", "StatefulSet", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def zaiban_containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, container) for each container running the zaiban image."""
    for name, spec in pod_specs(objects):
        for container in spec.get("containers", []):
            if container["image"].split(":")[0] == IMAGE:
                yield name, container


# ---- settings --------------------------------------------------------------------------------


def settings_classes() -> list[type[CommonSettings]]:
    """CommonSettings and every service's settings class (services/*/settings.py)."""
    classes: list[type[CommonSettings]] = [CommonSettings]
    for path in sorted((REPO / "services").glob("*/settings.py")):
        module = importlib.import_module(f"services.{path.parent.name}.settings")
        classes += [kind for _, kind in inspect.getmembers(module, inspect.isclass)
                    if issubclass(kind, CommonSettings) and kind not in classes]
    return classes


def settings_class_of(service: str) -> type[CommonSettings]:
    """The settings class a service reads (CommonSettings for a service without its own)."""
    prefix = f"services.{service}."
    own = [kind for kind in settings_classes() if kind.__module__.startswith(prefix)]
    return own[0] if own else CommonSettings


def env_names(kind: type[CommonSettings]) -> set[str]:
    prefix = str(kind.model_config.get("env_prefix", ""))
    names = set()
    for name, info in kind.model_fields.items():
        alias = info.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def stack_env_names() -> set[str]:
    """The variables `zaiban infra` reads (StackSettings.from_env): it is no pydantic model."""
    from zaiban.infra import StackSettings

    return set(re.findall(r'"(ZAIBAN_[A-Z0-9_]+)"', inspect.getsource(StackSettings.from_env)))


def known_variables() -> set[str]:
    names = stack_env_names()
    for kind in settings_classes():
        names |= env_names(kind)
    return names


def named_variables(text: str) -> set[str]:
    return set(re.findall(r"\bZAIBAN_[A-Z0-9_]*[A-Z0-9]\b", text))


# ---- compose ---------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    [doc] = yaml_documents(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def compose_services() -> dict[str, dict[str, Any]]:
    services = compose()["services"]
    assert isinstance(services, dict)
    return services


def is_zaiban_image(image: str) -> bool:
    return image.split(":")[0] == IMAGE


# ---- the Dockerfile --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.argument)
        assert isinstance(value, list), f"{self.keyword} is not in exec (JSON) form"
        return [str(part) for part in value]


def dockerfile() -> list[Instruction]:
    """The instructions, with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, argument = whole.partition(" ")
        instructions.append(Instruction(keyword.upper(), argument.strip()))
    assert not pending, "the Dockerfile ends in a line continuation"
    return instructions


def env_of_dockerfile() -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in dockerfile():
        if instruction.keyword == "ENV":
            for pair in instruction.argument.split():
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per line of .dockerignore (Go filepath.Match with `**`, as Docker)."""
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negated, re.compile(regex + "$")))
    return rules


def dockerignored(path: str) -> bool:
    """Whether the build context leaves `path` (relative to the repository) out."""
    rules = dockerignore_patterns()
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        excluded = False
        for negated, regex in rules:
            if regex.match(prefix):
                excluded = not negated
        if excluded:
            return True
    return False


# ---- nginx (the gateway) ---------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def _tokens(text: str) -> Iterator[str]:
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|#[^\n]*|[{};]|[^\s{};"\']+', text):
        token = match.group(0)
        if token.startswith("#"):
            continue
        yield token[1:-1] if token[0] in "\"'" else token


def parse_nginx(text: str) -> list[Directive]:
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in _tokens(text):
        if token == ";":
            stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            directive = Directive(words[0], words[1:], [])
            stack[-1].append(directive)
            stack.append(directive.block)  # type: ignore[arg-type]
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced braces in nginx.conf"
    return stack[0]


@dataclass
class Gateway:
    """deploy/gateway/nginx.conf: which upstream (or answer) a request gets."""

    upstreams: dict[str, list[str]]
    maps: dict[str, tuple[str, dict[str, str]]]  # $var → (source variable, value → result)
    locations: list[tuple[str, str, Directive]]  # (modifier, pattern, block), in order
    listen: list[str] = field(default_factory=list)

    @classmethod
    def load(cls) -> Gateway:
        top = parse_nginx(NGINX_CONF.read_text(encoding="utf-8"))
        upstreams = {d.args[0]: [s.args[0] for s in d.children("server")]
                     for d in top if d.name == "upstream"}
        maps = {d.args[1]: (d.args[0], {entry.name: entry.args[0] for entry in d.block or []})
                for d in top if d.name == "map"}
        [server] = [d for d in top if d.name == "server"]
        locations = []
        for d in server.children("location"):
            modifier, pattern = (d.args[0], d.args[1]) if len(d.args) == 2 else ("", d.args[0])
            locations.append((modifier, pattern, d))
        listen = [d.args[0] for d in server.children("listen")]
        return cls(upstreams, maps, locations, listen)

    def location_for(self, path: str) -> Directive:
        """nginx's choice: exact, then the longest prefix unless ^~, then regexes in order."""
        for modifier, pattern, block in self.locations:
            if modifier == "=" and path == pattern:
                return block
        prefixes = [(pattern, modifier, block) for modifier, pattern, block in self.locations
                    if modifier in ("", "^~") and path.startswith(pattern)]
        longest = max(prefixes, key=lambda item: len(item[0]), default=None)
        if longest is not None and longest[1] == "^~":
            return longest[2]
        for modifier, pattern, block in self.locations:
            if modifier in ("~", "~*") and re.search(
                    pattern, path, re.IGNORECASE if modifier == "~*" else 0):
                return block
        assert longest is not None, f"no location of nginx.conf takes {path}"
        return longest[2]

    def route(self, method: str, path: str) -> str:
        """The upstream the request is passed to, or `return <code>` when nginx answers."""
        block = self.location_for(path)
        [action] = [d for d in block.block or [] if d.name in ("proxy_pass", "return")]
        if action.name == "return":
            return f"return {action.args[0]}"
        target = action.args[0].removeprefix("http://")
        if target.startswith("$"):
            source, table = self.maps[target]
            assert source == "$request_method", f"{target} maps {source}, not the method"
            target = table.get(method, table["default"])
        assert target in self.upstreams, f"{path}: proxy_pass to unknown upstream {target}"
        return target


# ---- the Ingress -----------------------------------------------------------------------------


def ingress_backend(ingress: dict[str, Any], path: str) -> str:
    """The Service an Ingress sends `path` to: the longest matching path, Exact before Prefix."""
    best: tuple[int, int, str] | None = None
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            wanted, kind = entry["path"], entry["pathType"]
            if kind == "Exact":
                matches = path == wanted
            else:
                assert kind == "Prefix", f"pathType {kind} is controller-specific"
                stem = wanted.rstrip("/")
                matches = stem == "" or path == stem or path.startswith(stem + "/")
            if matches:
                rank = (len(wanted), 1 if kind == "Exact" else 0,
                        entry["backend"]["service"]["name"])
                best = rank if best is None or rank[:2] > best[:2] else best
    assert best is not None, f"the Ingress has no path for {path}"
    return best[2]


# ---- routes ----------------------------------------------------------------------------------


def endpoints(router: APIRouter, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route of a router, included routers too.

    Recent FastAPI keeps an included router whole (an `_IncludedRouter` holding
    `original_router`) instead of copying its routes; both shapes are walked. The OpenAPI
    document cross-checks the walk, so a shape this misses fails instead of hiding routes.
    """
    found: list[tuple[str, str]] = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            found += [(method, prefix + route.path) for method in sorted(route.methods or ())]
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            found += endpoints(route.original_router, prefix + getattr(context, "prefix", ""))
    app = FastAPI()
    app.include_router(router, prefix=prefix)
    documented = {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  for method in operations}
    assert documented <= set(found), f"routes not walked: {documented - set(found)}"
    return found


def sample_path(template: str) -> str:
    """A concrete path for a route template (/api/cases/{case_id} → /api/cases/ZB0-SAMPLE)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return "json" if name in ("fmt", "format") else "ZB0-SAMPLE"

    return re.sub(r"\{([^}]+)\}", value, template)
