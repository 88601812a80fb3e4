"""Which of the core's sources the compiled build is made of, and their digest.

One definition for both sides: ``hatch_build.py`` (which loads this file by
path, without importing the package) compiles these modules and writes the
digest beside them; ``h1/__init__.py`` compares it before it uses them.
This module and ``__init__`` are never compiled.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from typing import List

_NOT_COMPILED = ("__init__.py", "_sources.py")


def compiled_module_files(core_dir: str) -> List[str]:
    """The file names, sorted, of the core's modules that get compiled."""
    return sorted(
        name for name in os.listdir(core_dir) if name.endswith(".py") and name not in _NOT_COMPILED
    )


def sources_digest(core_dir: str) -> str:
    """SHA-256 over those modules' names and contents."""
    digest = hashlib.sha256()
    for name in compiled_module_files(core_dir):
        digest.update(("tornado_h1alt/h1/" + name).encode() + b"\0")
        with open(os.path.join(core_dir, name), "rb") as f:
            digest.update(f.read() + b"\0")
    return digest.hexdigest()


def digest_file_name() -> str:
    """One digest file per interpreter ABI: builds for several Pythons share
    the folder."""
    return "sources" + str(sysconfig.get_config_var("EXT_SUFFIX")) + ".sha256"
