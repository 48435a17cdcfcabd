"""The simulator imports the protocol and nothing else of the controller: loading it loads no web or database stack."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("flask", "sqlalchemy", "werkzeug", "apscheduler", "pa_controller")
LOADED_AFTER_IMPORTING_ALL = """
import importlib, pkgutil, sys
import firmware_sim
for module in pkgutil.walk_packages(firmware_sim.__path__, "firmware_sim."):
    importlib.import_module(module.name)
print(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[1:]))
"""


def test_importing_every_simulator_module_loads_no_controller_flask_or_database():
    # A fresh interpreter: in this one, other tests have imported the controller already.
    result = subprocess.run([sys.executable, "-c", LOADED_AFTER_IMPORTING_ALL, *FORBIDDEN], cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
