"""Importing the package and its numerical core must stay cheap: no TensorFlow, Keras or Qt."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
import cnnviz, cnnviz.core, cnnviz.paths
import cnnviz.core.images, cnnviz.core.kernels, cnnviz.core.convolution, cnnviz.core.matching
heavy = sorted(m for m in sys.modules
               if m.split('.')[0] in ('tensorflow', 'keras', 'PySide6', 'pyqtgraph'))
print(json.dumps(heavy))
"""


def test_core_imports_without_tensorflow_keras_or_qt():
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert heavy == [], f"importing the core loaded: {heavy}"
