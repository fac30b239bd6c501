"""The convolution stepper pane (see :mod:`.pane`); its rules live in :mod:`cnnviz.state.stepper`."""

from cnnviz.gui.panes.stepper.pane import StepperPane

__all__ = ["StepperPane"]
