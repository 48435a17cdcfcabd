"""The protocol stands alone: a firmware can take it with nothing but the standard library, signatures apart."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Ed25519, and the key chain built on it: docs/protocol.md says how to verify without them.
NEEDS_CRYPTOGRAPHY = {"pa_protocol.signing", "pa_protocol.key_chain"}
IMPORT_ALL = f"""
import importlib, pkgutil, sys, pa_protocol
for module in pkgutil.walk_packages(pa_protocol.__path__, "pa_protocol."):
    if module.name not in {NEEDS_CRYPTOGRAPHY!r}:
        importlib.import_module(module.name)
assert not {NEEDS_CRYPTOGRAPHY!r} & set(sys.modules), "import pa_protocol must not import the signing modules"
"""


def test_every_protocol_module_but_signing_imports_without_site_packages():
    # -S leaves site-packages off the path, so any third-party import fails; -E ignores PYTHONPATH.
    subprocess.run([sys.executable, "-S", "-E", "-c", IMPORT_ALL], cwd=ROOT, check=True, timeout=60)


def imported_packages(module: str) -> set[str]:
    tree = ast.parse((ROOT / "pa_protocol" / f"{module}.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return {name.split(".")[0] for name in imported if name.split(".")[0] not in sys.stdlib_module_names}


def test_the_signing_module_imports_only_the_standard_library_the_protocol_and_cryptography():
    assert imported_packages("signing") == {"pa_protocol", "cryptography"}


def test_the_key_chain_imports_only_the_standard_library_and_the_protocol():
    assert imported_packages("key_chain") == {"pa_protocol"}
