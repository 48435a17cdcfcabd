"""The protocol stands alone: a firmware can take it with nothing but the standard library."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT_ALL = """
import importlib, pkgutil, pa_protocol
for module in pkgutil.walk_packages(pa_protocol.__path__, "pa_protocol."):
    importlib.import_module(module.name)
"""


def test_every_protocol_module_imports_without_site_packages():
    # -S leaves site-packages off the path, so any third-party import fails; -E ignores PYTHONPATH.
    subprocess.run([sys.executable, "-S", "-E", "-c", IMPORT_ALL], cwd=ROOT, check=True, timeout=60)
