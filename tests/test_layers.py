"""The package's layers run one way: nothing imports upward or sideways across a layer.

Ranks, bottom to top: config, protocol, pipeline (text and audio stages) → broker and workers
(neither imports the other) → client → gateways → service → cli → the ``swtts`` package's own
``__init__``/``__main__``. A module may import its own package and anything ranked lower. Every
import counts, also those inside functions and under ``TYPE_CHECKING``: a lazy import upward is
still an upward dependency. Gateways skip the broker and the workers too: they use the client.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

RANKS = {
    "config": 0,
    "protocol": 1,
    "pipeline": 2,
    "broker": 3,
    "workers": 3,
    "client": 4,
    "gateways": 5,
    "service": 6,
    "cli": 7,
    "": 8,  # the swtts package itself: public re-exports and ``python -m swtts``
}
ENGINE_MODULES = ("onnxruntime", "piper", "onnx")
# Packages that must run without the engine installed: a broker serves voices it cannot read,
# and a client talks to a remote broker.
ENGINE_FREE = ("config", "protocol", "pipeline", "broker", "client", "gateways")
# Gateways are producers like any other: they reach the service through the client only, so a
# gateway runs as a process of its own against a broker anywhere.
ONLY_THROUGH_THE_CLIENT = {"gateways": ("broker", "workers")}


def package_folders() -> dict[str, Path]:
    """``swtts`` subpackage name (``""`` for the root) -> its folder, from pyproject's package-dir."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapping = project["tool"]["setuptools"]["package-dir"]
    folders = {}
    for name, folder in mapping.items():
        parts = name.split(".")
        if parts[0] == "swtts" and len(parts) <= 2:
            folders[parts[1] if len(parts) == 2 else ""] = REPO / folder
    return folders


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every ``import``/``from`` in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "swtts":  # ``from swtts import client`` names a subpackage
                found += [(node.lineno, f"swtts.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def package_of(module: str) -> str | None:
    """The swtts subpackage a dotted import names (``""`` for the root), or None if not ours."""
    parts = module.split(".")
    if parts[0] != "swtts":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else ""


def violations(edges: list[tuple[str, str, str]]) -> list[str]:
    """Edges (source package, where, imported module) that break the layer rules."""
    problems = []
    for source, where, module in edges:
        if module.split(".")[0] in ENGINE_MODULES and source in ENGINE_FREE:
            problems.append(f"{where}: {source or 'swtts'} must not import the engine ({module})")
        target = package_of(module)
        if target is None or target == source:
            continue
        if RANKS[target] >= RANKS[source]:
            problems.append(f"{where}: {source or 'swtts'} imports {module}, which is not below it")
        elif target in ONLY_THROUGH_THE_CLIENT.get(source, ()):
            problems.append(f"{where}: {source} imports {module}; it reaches the service through the client only")
    return problems


def all_edges() -> list[tuple[str, str, str]]:
    edges = []
    for package, folder in package_folders().items():
        files = folder.glob("*.py") if package == "" else folder.rglob("*.py")
        for path in files:
            for line, module in imports_of(path):
                edges.append((package, f"{path.relative_to(REPO)}:{line}", module))
    return edges


def test_every_package_has_a_rank() -> None:
    assert set(package_folders()) <= set(RANKS), set(package_folders()) - set(RANKS)


def test_no_import_runs_upward_or_sideways() -> None:
    edges = all_edges()
    assert {package for package, _, _ in edges} == set(package_folders()), "a package whose imports were not read"
    problems = sorted(set(violations(edges)))
    assert not problems, "layer violations:\n" + "\n".join(problems)


def test_the_checker_catches_a_back_edge() -> None:
    """The rule's own test: a planted upward, sideways and engine import are each reported."""
    planted = [
        ("broker", "broker/x.py:1", "swtts.client"),
        ("broker", "broker/x.py:2", "swtts.workers.engine"),
        ("client", "client/x.py:3", "onnxruntime"),
        ("pipeline", "pipeline/x.py:4", "swtts.pipeline.chunker"),
        ("service", "service/x.py:5", "swtts.broker.broker"),
        ("gateways", "gateways/x.py:6", "swtts.broker.cache"),
        ("gateways", "gateways/x.py:7", "swtts.client"),
        ("gateways", "gateways/x.py:8", "swtts.service"),
    ]
    assert violations(planted) == [
        "broker/x.py:1: broker imports swtts.client, which is not below it",
        "broker/x.py:2: broker imports swtts.workers.engine, which is not below it",
        "client/x.py:3: client must not import the engine (onnxruntime)",
        "gateways/x.py:6: gateways imports swtts.broker.cache; it reaches the service through the client only",
        "gateways/x.py:8: gateways imports swtts.service, which is not below it",
    ]


def test_broker_client_and_gateways_load_without_the_engine() -> None:
    """Checked at run time too: nothing pulls onnxruntime or piper in through a third package."""
    code = (
        "import sys; import swtts.broker.broker, swtts.client, swtts.config, swtts.protocol, swtts.gateways.wyoming; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'piper', 'onnx')))"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
