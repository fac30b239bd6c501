"""What each pane shows and the rules of its subject, as plain Python (no Qt, no pyqtgraph).

One module per pane. A state holds the truth a pane draws; widgets write into it on input and
redraw when it notifies them through :class:`cnnviz.state.events.Event`. Keras is imported only
inside the functions that are about a model, never at import time, so every state here can be
tested in milliseconds without a window or TensorFlow.
"""
