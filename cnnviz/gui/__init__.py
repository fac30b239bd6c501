"""The PySide6 window. Imports :mod:`cnnviz.ml` (and so TensorFlow) only when a pane needs it."""
