"""The training pane: :class:`TrainingPane` wires :class:`~cnnviz.state.training.TrainingForm`
to the settings column, the run monitor and the side tabs; the work it submits lives in
:mod:`cnnviz.ml.training_jobs`."""

from cnnviz.gui.panes.training.pane import TrainingPane, default_runs_root

__all__ = ["TrainingPane", "default_runs_root"]
