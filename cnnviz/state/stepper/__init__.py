"""What the convolution stepper shows and the rules it follows, as plain Python (no Qt).

:class:`StepperState` (:mod:`~cnnviz.state.stepper.state`) holds the layer settings, builds the
matching walk from :mod:`cnnviz.core.convolution` (which does every bit of arithmetic) and keeps
the current step, with the rules of each mode (pooling's stride follows the pool size, a
transposed convolution takes no explicit padding, which settings a mode uses). It owns a
:class:`StepperSources` (:mod:`~cnnviz.state.stepper.sources`): where the input and the kernel
come from (a typed matrix, the book's examples, a gray or RGB crop of the app's image; a typed
kernel, a preset, the Kernels tab's kernel). The words the pane shows — the arithmetic of a
step, the output-size formula with the numbers substituted, the hover and click texts, the grid
titles — are plain functions of the state in :mod:`~cnnviz.state.stepper.texts`, offered as
methods of the state too. :mod:`~cnnviz.state.stepper.choices` lists what can be chosen and the
limits of every setting; :mod:`~cnnviz.state.stepper.matrices` reads and writes typed matrices.

Widgets write into the state (:meth:`StepperState.update`, :meth:`~StepperState.set_source`,
:meth:`~StepperState.go_to`, …) and redraw on its events (:class:`cnnviz.state.events.Event`):

- ``changed(what)`` — ``"walk"`` after the walk was rebuilt, ``"position"`` after only the step
  moved, so a view can do the cheap redraw when it can;
- ``inputs_changed()`` — the input source, the kernel source or the crop changed (the view
  shows them in its controls);
- ``text_loaded(which, text)`` — the state put a new matrix (``which == "matrix"``) or kernel
  (``"kernel"``) into its text, e.g. the book's example or a preset: the editor shows it;
- ``message_changed(message, which, span)`` — the problem with the user's last input in words
  (empty when there is none); for a typed matrix ``which``/``span`` point at the bad cell.

Settings that give no output leave ``walk`` at ``None`` and ``error`` holding the reason in
words; nothing raises into the GUI.
"""

from __future__ import annotations

from cnnviz.state.stepper.choices import (
    BOOK_IMAGE,
    BOOK_KERNEL,
    CROP_SOURCES,
    DIAGONAL_IMAGE,
    DIAGONAL_KERNEL,
    HOVER_HINT,
    KERNEL_PRESETS,
    KERNEL_SOURCES,
    LIMITS,
    MODES,
    NO_OUTPUT,
    PAD_MODE_NAMES,
    PADDINGS,
    SOURCES,
    STEP_ACTIVATIONS,
    Limits,
)
from cnnviz.state.stepper.matrices import MatrixError, fmt, format_matrix, parse_kernel, parse_matrix
from cnnviz.state.stepper.sources import StepperSources
from cnnviz.state.stepper.state import Settings, StepperState

__all__ = [
    "MODES",
    "PADDINGS",
    "PAD_MODE_NAMES",
    "STEP_ACTIVATIONS",
    "SOURCES",
    "CROP_SOURCES",
    "KERNEL_SOURCES",
    "KERNEL_PRESETS",
    "BOOK_IMAGE",
    "BOOK_KERNEL",
    "DIAGONAL_IMAGE",
    "DIAGONAL_KERNEL",
    "Limits",
    "LIMITS",
    "HOVER_HINT",
    "NO_OUTPUT",
    "MatrixError",
    "parse_matrix",
    "parse_kernel",
    "format_matrix",
    "fmt",
    "Settings",
    "StepperSources",
    "StepperState",
]
