"""cnnviz: explore convolutional neural networks visually.

Importing this package is cheap: it loads neither Qt nor TensorFlow. The numerical core lives in
:mod:`cnnviz.core` (numpy + OpenCV), the Keras parts in :mod:`cnnviz.ml`, the window in
:mod:`cnnviz.gui`.
"""

__version__ = "0.1.0"
