"""The numerical core: images, kernels, convolution arithmetic, pooling, transposed convolution
and pattern matching, with numpy and OpenCV only (no Qt, no Keras)."""
