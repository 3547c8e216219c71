"""mypy over the code as it is imported: ``swtts.…``, with the tests and scripts.

The folders of the tree (``config/``, ``broker/``, ...) become ``swtts.config``, ``swtts.broker``
... only through pyproject's ``package-dir``, and mypy cannot follow setuptools' editable
import hook. So this links the mapping into ``build/typecheck/swtts/`` (``mypy_path`` in
pyproject), runs mypy with pyproject's configuration, and names the real files in its report.

    .venv/bin/python -m scripts.typecheck [MYPY ARGS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / "build" / "typecheck"


def package_dirs() -> dict[str, Path]:
    """``swtts`` and each ``swtts.X`` -> its folder, from pyproject's package-dir."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = project["tool"]["setuptools"]["package-dir"]
    folders = {name: REPO / folder for name, folder in mapping.items() if name.count(".") <= 1}
    for name, folder in mapping.items():  # deeper packages must sit inside their parent's folder
        parent, _, child = name.rpartition(".")
        if name.count(".") > 1 and REPO / folder != REPO / mapping[parent] / child:
            raise SystemExit(f"typecheck: {name} = {folder!r} is not inside {parent}'s folder; link it here too")
    return folders


def link_tree() -> dict[Path, Path]:
    """Build ``build/typecheck/swtts`` from links; returns each linked path -> the real one."""
    root = TREE / "swtts"
    shutil.rmtree(TREE, ignore_errors=True)
    root.mkdir(parents=True)
    links: dict[Path, Path] = {}
    for name, folder in package_dirs().items():
        if name == "swtts":
            for path in folder.iterdir():
                if path.is_file():
                    links[root / path.name] = path
        else:
            links[root / name.partition(".")[2]] = folder
    for link, target in links.items():
        link.symlink_to(target)
    return links


def run(args: list[str]) -> int:
    links = link_tree()
    done = subprocess.run([sys.executable, "-m", "mypy", *args], capture_output=True, text=True, cwd=REPO)
    report = done.stdout + done.stderr
    for link, target in sorted(links.items(), key=lambda pair: -len(str(pair[0]))):
        report = report.replace(str(link.relative_to(REPO)), str(target.relative_to(REPO)))
    sys.stdout.write(report)
    return done.returncode


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
