"""The Qt-free states really are: their tests pass in a Python where PySide6, pyqtgraph,
TensorFlow and Keras cannot be imported at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = {'PySide6', 'shiboken6', 'pyqtgraph', 'tensorflow', 'keras', 'pytestqt'}

class Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is blocked: the state layer must not need it')
        return None

sys.meta_path.insert(0, Blocker())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def state_test_files() -> list[str]:
    return sorted(str(p) for p in TESTS.glob("test_state_*.py") if p.name != Path(__file__).name)


def test_there_are_state_tests():
    names = {Path(p).name for p in state_test_files()}
    assert {"test_state_kernels.py", "test_state_matching.py", "test_state_stepper.py",
            "test_state_training.py", "test_state_activations.py"} <= names


@pytest.mark.timeout(300)
def test_state_tests_pass_with_qt_and_tensorflow_blocked():
    files = state_test_files()
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, "-q", "-p", "no:pytest-qt", "-p", "no:cacheprovider",
         "--rootdir", str(TESTS.parent), *files],
        capture_output=True, text=True, timeout=280, check=False, cwd=TESTS.parent,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert " passed" in output, output[-2000:]
    assert "is blocked" not in output, output[-4000:]
