"""scripts/tree_import.py: where swtts is not installed, a shim makes this tree importable, in children too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = "import swtts.config; print(swtts.config.__file__)"


def test_the_shim_imports_this_tree_where_swtts_is_not_installed(tmp_path: Path) -> None:
    """``-S`` leaves site-packages (and the editable install) out, as on a machine where nothing is installed."""
    program = "\n".join(
        [
            "import subprocess, sys",
            "from pathlib import Path",
            f"sys.path.insert(0, {str(ROOT / 'scripts')!r})",
            "from tree_import import make_swtts_importable",
            f"print(make_swtts_importable(Path({str(ROOT)!r})))",
            "import swtts.protocol",
            "print(swtts.protocol.__file__)",
            f"child = [sys.executable, '-S', '-P', '-c', {CHILD!r}]",
            "print(subprocess.run(child, capture_output=True, text=True, check=True, cwd='/').stdout.strip())",
        ]
    )
    done = subprocess.run([sys.executable, "-S", "-c", program], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shim, protocol, child_config = done.stdout.splitlines()
    try:
        assert Path(shim).is_dir()
        assert Path(protocol).resolve() == ROOT / "protocol" / "__init__.py"
        assert Path(child_config).resolve() == ROOT / "config" / "__init__.py"
    finally:
        shutil.rmtree(shim, ignore_errors=True)


def test_no_shim_where_this_tree_is_installed() -> None:
    from scripts.tree_import import make_swtts_importable

    assert make_swtts_importable(ROOT) is None
