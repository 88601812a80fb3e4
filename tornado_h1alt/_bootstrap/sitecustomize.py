"""tornado_h1alt's start-up hook, on PYTHONPATH only while it is activated.

Python imports ``sitecustomize`` at start-up; this one installs
tornado_h1alt's engine when the program imports Tornado's HTTP modules (see
`tornado_h1alt.activation`), then runs the ``sitecustomize`` it hides, if
the environment has one of its own.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _activate() -> None:
    # The activation module alone, not the tornado_h1alt package (whose
    # __init__ imports Tornado): a process that never imports Tornado
    # must not be made to.
    package = importlib.util.find_spec("tornado_h1alt")
    if package is None or not package.submodule_search_locations:
        return  # tornado_h1alt is not installed for this Python
    path = os.path.join(list(package.submodule_search_locations)[0], "activation.py")
    spec = importlib.util.spec_from_file_location("_tornado_h1alt_activation", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_on_import()


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if os.path.abspath(entry or os.curdir) == here:
            continue
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [entry])
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules["sitecustomize"] = module
            spec.loader.exec_module(module)
            return


_activate()
_chain()
