"""Builds the compiled core: tornado_h1alt/h1/ compiled with mypyc.

The same sources serve both builds.  Pure Python stays the reference; the
compiled build is those modules turned into C by mypyc (as black and mypy
ship), which the README's "Builds" section explains.

Two ways in, one function (`build`):

- the wheel build hook (hatchling runs `CustomBuildHook` for ``pip install``,
  ``pip install -e`` and ``python -m build``);
- ``python hatch_build.py``, which compiles in place for the running
  Python: what tox and a developer who edited the core run.

Nothing here may make an install fail.  Where mypyc or a C compiler is
missing, or ``TORNADO_H1ALT_NO_EXTENSIONS`` is set, the pure-Python package
is built instead and a line says so.

The compiled modules go to ``tornado_h1alt/h1/_compiled/`` beside a digest of
the sources they were built from; ``tornado_h1alt/h1/__init__.py`` puts that
folder first on the package's path only when the digest matches, so a
stale or foreign build is never used and the environment variable can
switch it off at run time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

ROOT = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join("tornado_h1alt", "h1")
COMPILED = os.path.join(CORE, "_compiled")
NO_EXTENSIONS = "TORNADO_H1ALT_NO_EXTENSIONS"
# The name of mypyc's shared library: it holds every compiled module, each
# module file being a small shim that loads its part from it.
GROUP = "tornado_h1alt.h1._compiled.core"

try:  # the build hook needs hatchling; the script does not
    from hatchling.builders.hooks.plugin.interface import (  # type: ignore[import-not-found,unused-ignore]
        BuildHookInterface,
    )
except ImportError:  # pragma: no cover - script use
    BuildHookInterface = object  # type: ignore[assignment,misc,unused-ignore]


def _sources_rules(root: str) -> Any:
    """``tornado_h1alt/h1/_sources.py``, loaded by path: the package itself
    imports Tornado, which the build environment does not have."""
    path = os.path.join(root, CORE, "_sources.py")
    spec = importlib.util.spec_from_file_location("_tornado_h1alt_sources", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def core_sources(root: str = ROOT) -> List[str]:
    """The core's modules that get compiled, relative to ``root``."""
    names = _sources_rules(root).compiled_module_files(os.path.join(root, CORE))
    return [os.path.join(CORE, name) for name in names]


def _say(message: str) -> None:
    print("tornado_h1alt build: " + message, file=sys.stderr, flush=True)


def _reason_not_to_compile() -> Optional[str]:
    if os.environ.get(NO_EXTENSIONS):
        return NO_EXTENSIONS + " is set"
    if sys.implementation.name != "cpython":
        return "mypyc compiles for CPython only"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc (part of mypy) is not installed"
    return None


@contextlib.contextmanager
def _lock(path: str) -> Iterator[None]:
    """Serialise builds in one checkout (tox runs cells in parallel)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(root: str = ROOT) -> Optional[List[Tuple[str, str]]]:
    """Compile the core for the running Python.

    Returns the built files as (absolute path, path inside the package
    tree), or None when the pure-Python package is what gets installed
    (the reason is printed).  Never raises for a missing or failing
    toolchain.
    """
    reason = _reason_not_to_compile()
    if reason is not None:
        _say("building pure Python only: " + reason)
        return None
    work = os.path.join(root, "build", "mypyc-" + sys.implementation.cache_tag)
    with _lock(os.path.join(root, "build", "mypyc.lock")):
        try:
            return _compile(root, work)
        except (Exception, SystemExit) as error:  # a type error exits mypyc
            _say("building pure Python only: compiling failed (%s)" % (error,))
            return None


def _compile(root: str, work: str) -> List[Tuple[str, str]]:
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped,unused-ignore]

    rules = _sources_rules(root)
    digest = rules.sources_digest(os.path.join(root, CORE))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    cwd = os.getcwd()
    os.chdir(root)  # mypyc names modules after paths relative to the cwd
    try:
        sources = core_sources(root)
        # One named group (a form every mypyc since 1.0 takes).
        # The rest of the package is type-checked by CI's mypy, not here: its
        # Tornado may be one without type hints (5.1).
        extensions = mypycify(
            ["--follow-imports=silent", *sources],
            opt_level="3",
            separate=[(sources, GROUP)],
            target_dir=work,
        )
    finally:
        os.chdir(cwd)
    for extension in extensions:
        # The per-module shims go to _compiled/ too, under their own module
        # names: h1/__init__.py decides whether that folder is searched.
        if not extension.name.startswith(GROUP):
            extension.name = "tornado_h1alt.h1._compiled." + extension.name.rsplit(".", 1)[1]
        extension.sources = [os.path.join(root, s) for s in extension.sources]
        extension.include_dirs = [
            d if os.path.isabs(d) else os.path.join(root, d) for d in extension.include_dirs
        ]
    out = os.path.join(work, "lib")
    distribution = Distribution({"name": "tornado_h1alt-core", "ext_modules": extensions})
    command: Any = distribution.get_command_obj("build_ext")
    command.build_lib = out
    command.build_temp = os.path.join(work, "temp")
    command.ensure_finalized()
    command.run()
    built = []
    for extension in extensions:
        relative = extension.name.replace(".", os.sep) + suffix
        built.append((os.path.join(out, relative), relative))
    digest_path = os.path.join(work, rules.digest_file_name())
    with open(digest_path, "w") as f:
        f.write(digest + "\n")
    built.append((digest_path, os.path.join(COMPILED, rules.digest_file_name())))
    _say("compiled the core with mypyc (%d modules)" % (len(extensions) - 1,))
    return built


def install_in_place(built: List[Tuple[str, str]], root: str = ROOT) -> None:
    """Copy the build into the source tree, each file replaced atomically
    (a process may have the previous one loaded)."""
    os.makedirs(os.path.join(root, COMPILED), exist_ok=True)
    for source, relative in built:
        target = os.path.join(root, relative)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
        os.close(fd)
        shutil.copyfile(source, temporary)
        os.chmod(temporary, 0o755 if target.endswith(".so") else 0o644)
        os.replace(temporary, target)


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc,unused-ignore]
    """hatchling's hook: adds the compiled core to the wheel, or, for an
    editable install, builds it in place."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        built = build(self.root)
        if built is None:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version == "editable":
            install_in_place(built, self.root)
        else:
            for source, relative in built:
                build_data["force_include"][source] = relative.replace(os.sep, "/")


def main() -> int:
    built = build()
    if built is None:
        return 1
    install_in_place(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
