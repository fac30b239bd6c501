"""The engine: one persistent child process that owns TensorFlow and Keras.

The window never imports TensorFlow. It talks to the engine through
:class:`cnnviz.engine.client.EngineClient`, which sends job functions by reference (module and
qualified name) with plain, picklable arguments, streams progress and results back, notices
when TensorFlow dies natively (a segfault, an abort, the out-of-memory killer) or stops
answering, and starts a fresh engine. Nothing in this package imports Qt or TensorFlow at
module level.
"""

from cnnviz.engine.jobs import Job, JobStopped

__all__ = ["Job", "JobStopped"]
