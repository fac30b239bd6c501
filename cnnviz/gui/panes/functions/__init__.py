"""The activation functions pane: the functions of the book's ch. 2, their slopes, and softmax."""

from cnnviz.gui.panes.functions.pane import FunctionsPane

__all__ = ["FunctionsPane"]
