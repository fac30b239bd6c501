"""The Keras side of cnnviz: the book's models, offline datasets, training, model loading and
activations. Importing this package does not import Keras; :func:`cnnviz.ml.backend.keras`
does, after fixing the backend to TensorFlow."""
