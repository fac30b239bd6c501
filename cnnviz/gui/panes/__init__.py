"""The panes of the main window, one per activity.

Each pane is a :class:`cnnviz.gui.panes.base.Pane` subclass constructed with the shared
:class:`cnnviz.gui.context.AppContext`. Panes are listed here in tab order; the module is imported
when the window is built, so a pane module must not import Keras at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class PaneSpec:
    name: str  # command-line name, e.g. "kernels"
    title: str  # tab title
    module: str
    cls: str

    def load(self):
        return getattr(import_module(self.module), self.cls)


PANES: list[PaneSpec] = [
    PaneSpec("kernels", "Kernels", "cnnviz.gui.panes.kernels", "KernelsPane"),
    PaneSpec("matching", "Pattern matching", "cnnviz.gui.panes.matching", "MatchingPane"),
    PaneSpec("stepper", "Convolution stepper", "cnnviz.gui.panes.stepper", "StepperPane"),
    PaneSpec("functions", "Activation functions", "cnnviz.gui.panes.functions", "FunctionsPane"),
    PaneSpec("training", "Training", "cnnviz.gui.panes.training", "TrainingPane"),
    PaneSpec("siamese", "Siamese", "cnnviz.gui.panes.siamese", "SiamesePane"),
    PaneSpec("activations", "Activations", "cnnviz.gui.panes.activations", "ActivationsPane"),
]


def pane_names() -> list[str]:
    return [spec.name for spec in PANES]
