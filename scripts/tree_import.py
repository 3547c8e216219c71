"""Make this source tree importable as ``swtts`` where the project is not installed (stdlib only).

The tree's folders map into the package (``[tool.setuptools.package-dir]`` in pyproject.toml:
``swtts.config`` is ``config/``...), so putting the tree on ``sys.path`` is not enough. Where no
install of *this* tree is found, a throw-away folder gets a ``swtts`` directory whose entries are
symlinks: ``swtts/``'s own files, and one link per mapped subpackage to its folder. The folder goes
first on ``sys.path`` and on ``PYTHONPATH``, so children started as ``python -P -m swtts`` find the
same code. Nothing is written into the tree or into site-packages.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path


def make_swtts_importable(root: Path) -> Path | None:
    """Ensure ``import swtts`` gives this tree here and in children; the shim folder made, or None."""
    if _imports_from(root):
        return None
    for name in [name for name in sys.modules if name == "swtts" or name.startswith("swtts.")]:
        del sys.modules[name]
    shim = Path(tempfile.mkdtemp(prefix="swtts-shim-"))
    package = shim / "swtts"
    package.mkdir()
    for entry in (root / "swtts").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in _package_dirs(root).items():
        parts = name.split(".")
        if parts[0] != "swtts" or len(parts) < 2:
            continue
        link = package.joinpath(*parts[1:])
        if len(parts) == 2:
            link.symlink_to(root / folder)
        elif link.resolve() != (root / folder).resolve():
            raise RuntimeError(f"package-dir maps {name} to {folder}, not under its parent's folder: extend the shim")
    sys.path.insert(0, str(shim))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
    importlib.invalidate_caches()
    if not _imports_from(root):
        shutil.rmtree(shim, ignore_errors=True)
        raise RuntimeError(f"a swtts shim does not import {root}: check [tool.setuptools.package-dir]")
    return shim


def _package_dirs(root: Path) -> dict[str, str]:
    with open(root / "pyproject.toml", "rb") as handle:
        mapping: dict[str, str] = tomllib.load(handle)["tool"]["setuptools"]["package-dir"]
    return mapping


def _imports_from(root: Path) -> bool:
    """Whether ``swtts`` and a mapped subpackage import, and from this tree (not another copy)."""
    try:
        config = importlib.import_module("swtts.config")
    except ImportError:
        return False
    folder = root / _package_dirs(root)["swtts.config"]
    return Path(str(config.__file__)).resolve().is_relative_to(folder.resolve())
