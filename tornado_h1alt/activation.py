"""Turning the engine on in Python processes that do not call `install` themselves.

Two pieces, used by ``tornado-h1alt-run`` and ``python -m tornado_h1alt``:

* `activate_children` puts the bootstrap directory (a ``sitecustomize``
  module, `tornado_h1alt._bootstrap`) first on ``PYTHONPATH`` and sets
  ``TORNADO_H1ALT_ACTIVATE=1``, so every Python process started from here
  on (a front command's subcommand, an autoreload restart, a worker)
  activates the engine at start-up;
* `install_on_import`, which that ``sitecustomize`` calls: an import hook
  that runs `install` right after the program imports Tornado's HTTP
  modules, so before it can create a server or a client, and never imports
  Tornado into a process that does not import it itself.

``TORNADO_H1ALT_ACTIVATE=0`` turns it off again for a process and its
children; ``TORNADO_H1ALT_VERBOSE=1`` makes each process say on stderr when
the engine is installed in it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any, List, Optional, Sequence

__all__ = [
    "ACTIVATE_VARIABLE",
    "BOOTSTRAP_DIR",
    "VERBOSE_VARIABLE",
    "activate_children",
    "install_engine",
    "install_on_import",
    "main",
]

ACTIVATE_VARIABLE = "TORNADO_H1ALT_ACTIVATE"
VERBOSE_VARIABLE = "TORNADO_H1ALT_VERBOSE"
BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")

# The modules whose names install() replaces; the engine is installed once
# none of them is half imported (install() imports what is missing).
_WATCHED = ("tornado.http1connection", "tornado.httpserver", "tornado.simple_httpclient")

USAGE = "usage: tornado-h1alt-run COMMAND [ARGS...]"


def activate_children(environ: Optional[Any] = None) -> None:
    """Make every Python process started from now on activate the engine."""
    env = os.environ if environ is None else environ
    env[ACTIVATE_VARIABLE] = "1"
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if BOOTSTRAP_DIR not in paths:
        env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR] + paths)


def install_engine() -> None:
    """`install`, saying so on stderr if ``TORNADO_H1ALT_VERBOSE=1``."""
    # An absolute import: the start-up hook loads this module on its own,
    # outside the package (see tornado_h1alt/_bootstrap/sitecustomize.py).
    from tornado_h1alt.install import install

    install()
    if os.environ.get(VERBOSE_VARIABLE) == "1":
        sys.stderr.write("tornado_h1alt: engine installed (pid %d)\n" % os.getpid())


def _half_imported(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and bool(getattr(spec, "_initializing", False))


class _InstallWhenImported(importlib.abc.MetaPathFinder):
    """Wraps the loaders of Tornado's HTTP modules; installs the engine once
    they are all imported (or not imported at all)."""

    def __init__(self) -> None:
        self.done = False

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if self.done or fullname not in _WATCHED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self)
        return spec

    def after(self, name: str) -> None:
        """Module ``name`` has just been executed."""
        if self.done or any(_half_imported(other) for other in _WATCHED if other != name):
            return  # a module still being imported will call again
        self.done = True
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        install_engine()


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, hook: _InstallWhenImported) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[ModuleType]:
        module: Optional[ModuleType] = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        # The import system binds a submodule to its package only after
        # this returns; the engine, installed from here, reads it there
        # (``tornado.httpserver.HTTPServer``), so bind it now.  (Tornado
        # 5.1's tornado.web imports tornado.httpserver from inside
        # tornado.routing: this is the last watched module to finish.)
        package, _, name = module.__name__.rpartition(".")
        if package in sys.modules:
            setattr(sys.modules[package], name, module)
        self._hook.after(module.__name__)

    def __getattr__(self, name: str) -> Any:
        # get_source, get_filename, ...: the real loader's.
        return getattr(self._loader, name)


def install_on_import() -> None:
    """Install the engine when Tornado's HTTP modules are imported (or now,
    if they already are).  Does nothing if ``TORNADO_H1ALT_ACTIVATE`` is not 1."""
    if os.environ.get(ACTIVATE_VARIABLE) != "1":
        return
    if any(name in sys.modules for name in _WATCHED):
        install_engine()
        return
    sys.meta_path.insert(0, _InstallWhenImported())


def main(argv: Optional[List[str]] = None) -> int:
    """``tornado-h1alt-run COMMAND [ARGS...]``: run a command with the engine
    active in every Python process it starts."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        print(
            "Runs COMMAND with tornado_h1alt's engine installed in every Python process "
            "it starts (jupyter server, celery flower, python app.py, ...).",
            file=sys.stdout if args else sys.stderr,
        )
        return 0 if args else 2
    activate_children()
    try:
        os.execvp(args[0], args)
    except OSError as error:
        print("tornado-h1alt-run: %s: %s" % (args[0], error.strerror), file=sys.stderr)
        return 127
    return 0  # (not reached: execvp replaces this process)
