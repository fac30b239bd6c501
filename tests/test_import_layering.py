"""The layers import only downwards: ``core`` ← ``ml`` ← ``state`` ← ``gui``.

Importing the package and its numerical core stays cheap (no TensorFlow, Keras or Qt); the ML
layer and the Qt-free states never import Qt or pyqtgraph; the states import no TensorFlow
either (they import Keras only inside the functions that are about a model).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = """
import json, sys
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'PySide6', 'pyqtgraph'})
print(json.dumps(heavy))
"""

IMPORT_ALL = """
import importlib, pkgutil
import cnnviz.{pkg} as pkg
for info in pkgutil.walk_packages(pkg.__path__, 'cnnviz.{pkg}.'):
    importlib.import_module(info.name)
"""


def _heavy_after(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + HEAVY], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_core_imports_without_tensorflow_keras_or_qt():
    heavy = _heavy_after(
        "import cnnviz, cnnviz.core, cnnviz.paths\n"
        "import cnnviz.core.images, cnnviz.core.kernels, cnnviz.core.convolution, cnnviz.core.matching\n"
    )
    assert heavy == [], f"importing the core loaded: {heavy}"


def test_every_state_module_imports_without_qt_or_tensorflow():
    code = IMPORT_ALL.format(pkg="state") + (
        "\nimport sys\ngui = sorted(m for m in sys.modules if m.startswith('cnnviz.gui'))\nassert not gui, gui\n"
    )
    heavy = _heavy_after(code)
    assert heavy == [], f"importing cnnviz.state loaded: {heavy}"


def test_every_ml_module_imports_without_qt():
    heavy = _heavy_after(IMPORT_ALL.format(pkg="ml"))
    assert "PySide6" not in heavy and "pyqtgraph" not in heavy, f"importing cnnviz.ml loaded: {heavy}"


def test_core_imports_nothing_above_it():
    code = IMPORT_ALL.format(pkg="core") + (
        "\nimport sys\nabove = sorted(m for m in sys.modules if m.startswith(('cnnviz.ml', 'cnnviz.state', 'cnnviz.gui')))"
        "\nassert not above, above\n"
    )
    assert _heavy_after(code) == []
