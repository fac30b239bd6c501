"""Where the stepper's input and kernel come from, as plain Python (no Qt).

:class:`StepperSources` reads a typed matrix, loads the book's examples or cuts a gray or RGB
crop of the app's image for the input, and reads a typed kernel, loads a preset or follows the
Kernels tab's kernel for the kernel. What it reads it hands to the state's ``apply`` callback
(:meth:`StepperState.update`); what it cannot read it says in :attr:`~StepperSources.message`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnviz.core import images
from cnnviz.core.kernels import PRESETS
from cnnviz.state.events import Event
from cnnviz.state.stepper.choices import (
    BOOK_IMAGE,
    BOOK_KERNEL,
    CROP_SOURCES,
    EXAMPLE_SETTINGS,
    EXAMPLES,
    KERNEL_SOURCES,
    LIMITS,
    SOURCES,
)
from cnnviz.state.stepper.matrices import MatrixError, format_matrix, parse_filters, parse_kernel

__all__ = ["StepperSources"]


class StepperSources:
    """The input source, the kernel source, the editors' texts, the crop and the message about
    the last input. Events: ``inputs_changed()``, ``text_loaded(which, text)`` and
    ``message_changed(message, which, span)`` (see :mod:`cnnviz.state.stepper`)."""

    def __init__(self, apply: Callable[..., None]) -> None:
        self._apply = apply  # takes image=… and/or kernel=…
        self.inputs_changed = Event()
        self.text_loaded = Event()
        self.message_changed = Event()
        self.source = "book"  # a key of SOURCES
        self.kernel_source = "typed"  # a key of KERNEL_SOURCES
        self.matrix_text = format_matrix(BOOK_IMAGE)  # what the matrix editor holds
        self.kernel_text = format_matrix(BOOK_KERNEL)  # what the kernel editor holds
        self.crop = (0, 0, LIMITS.default_crop, LIMITS.default_crop)  # top, left, height, width
        self.picture: np.ndarray | None = None  # the app's image, cropped by the crop sources
        self.message = ""  # the problem with the last input, in words

    def detached(self, apply: Callable[..., None]) -> StepperSources:
        """A copy that notifies nobody and hands what it reads to ``apply``."""
        twin = StepperSources.__new__(StepperSources)
        twin.__dict__.update(self.__dict__)
        twin._apply = apply
        twin.inputs_changed, twin.text_loaded, twin.message_changed = Event(), Event(), Event()
        return twin

    # -- where the input comes from ----------------------------------------------------------
    def set_source(self, key: str) -> None:
        """Take the input from ``key`` (one of :data:`SOURCES`): the book's examples load their
        own kernel too, ``"typed"`` reads :attr:`matrix_text`, a crop cuts :attr:`picture`."""
        if key not in SOURCES:
            raise ValueError(f"Unknown source '{key}': use one of {', '.join(SOURCES)}.")
        self.source = key
        self._set_message("")
        if key in EXAMPLES:
            image, kernel = EXAMPLES[key]
            self._load_text("matrix", image)
            self.use_typed_kernel(kernel)
            self._apply(image=image, kernel=kernel, **EXAMPLE_SETTINGS.get(key, {}))
        elif key == "typed":
            self._apply_matrix_text()
        else:
            self._centre_untouched_crop()
            self._apply_crop()
        self.inputs_changed.emit()

    def edit_text(self, which: str, text: str) -> None:
        """The user is typing in the matrix (``"matrix"``) or kernel (``"kernel"``) editor; it is
        read by :meth:`type_matrix` / :meth:`type_kernel` once the typing pauses."""
        if which == "matrix":
            self.matrix_text = text
        else:
            self.kernel_text = text

    def type_matrix(self, text: str | None = None) -> None:
        """Read the typed matrix (``text`` or :attr:`matrix_text`) as the input; the source
        becomes ``"typed"``. A matrix that cannot be read leaves the last good one in place."""
        if text is not None:
            self.matrix_text = text
        if self.source != "typed":
            self.source = "typed"
            self.inputs_changed.emit()
        self._apply_matrix_text()

    def _apply_matrix_text(self) -> None:
        try:
            m = parse_kernel(self.matrix_text)  # channels separated by '|'
        except MatrixError as e:
            self._parse_error(e, "matrix")
            return
        if max(m.shape[:2]) > LIMITS.crop:
            self._set_message(f"A typed matrix can have at most {LIMITS.crop} rows and columns.")
            return
        if m.ndim == 3 and m.shape[2] > LIMITS.channels:
            self._set_message(f"A typed input can have at most {LIMITS.channels} channels.")
            return
        self._set_message("")
        self._apply(image=m)

    def set_picture(self, picture: np.ndarray) -> None:
        """The app's image changed; a crop source cuts the new one."""
        self.picture = picture
        if self.source in CROP_SOURCES:
            self._apply_crop()
            self.inputs_changed.emit()

    def set_crop(self, top: int, left: int, height: int, width: int) -> None:
        """Where the crop sources cut :attr:`picture` (clamped to it when applied)."""
        self.crop = (int(top), int(left), int(height), int(width))
        if self.source in CROP_SOURCES:
            self._apply_crop()
        self.inputs_changed.emit()

    def crop_limits(self) -> tuple[int, int, int, int]:
        """The largest (top, left, height, width) a crop of :attr:`picture` may have."""
        if self.picture is None:
            return (LIMITS.crop_origin, LIMITS.crop_origin, LIMITS.crop, LIMITS.crop)
        h, w = self.picture.shape[:2]
        return max(0, h - 1), max(0, w - 1), min(LIMITS.crop, h), min(LIMITS.crop, w)

    def _centre_untouched_crop(self) -> None:
        """A crop nobody has moved or resized yet starts in the middle of the picture."""
        top, left, ch, cw = self.crop
        d = LIMITS.default_crop
        if self.picture is not None and not (ch > d or cw > d or top or left):
            h, w = self.picture.shape[:2]
            self.crop = (max(0, h // 2 - d // 2), max(0, w // 2 - d // 2), ch, cw)

    def _apply_crop(self) -> None:
        if self.picture is None:
            return
        mt, ml, mh, mw = self.crop_limits()
        top, left, ch, cw = self.crop
        top, left, ch, cw = min(top, mt), min(left, ml), max(1, min(ch, mh)), max(1, min(cw, mw))
        self.crop = (top, left, ch, cw)
        h, w = self.picture.shape[:2]
        top, left = min(top, max(0, h - ch)), min(left, max(0, w - cw))
        try:
            part = images.crop(self.picture, top, left, ch, cw)
        except ValueError as e:
            self._set_message(str(e))
            return
        data = images.to_gray(part) if self.source == "crop_gray" else images.to_rgb(part)
        self._set_message("")
        self._apply(image=np.asarray(data, dtype=np.float64))

    # -- where the kernel comes from ---------------------------------------------------------
    def set_kernel_source(self, key: str, playground: np.ndarray | None = None) -> None:
        """``"typed"`` reads :attr:`kernel_text`; ``"playground"`` follows the Kernels tab's
        kernel (``playground`` now, then :meth:`playground_kernel_changed`)."""
        if key not in KERNEL_SOURCES:
            raise ValueError(f"Unknown kernel source '{key}': use one of {', '.join(KERNEL_SOURCES)}.")
        self.kernel_source = key
        if key == "playground":
            if playground is not None:
                self.playground_kernel_changed(playground)
        else:
            self._apply_kernel_text()
        self.inputs_changed.emit()

    def playground_kernel_changed(self, kernel: np.ndarray) -> None:
        """The Kernels tab's kernel changed: used when the kernel source is ``"playground"``."""
        if self.kernel_source != "playground":
            return
        k = np.asarray(kernel, dtype=np.float64)
        self._load_text("kernel", k)
        self._apply(kernel=k)

    def choose_preset(self, key: str) -> None:
        """Use a kernel of :data:`KERNEL_PRESETS` (it becomes the typed kernel)."""
        k = BOOK_KERNEL if key == "book" else PRESETS[key]
        self.use_typed_kernel(k)
        self._apply(kernel=k)
        self.inputs_changed.emit()

    def type_kernel(self, text: str | None = None) -> None:
        """Read the typed kernel (``text`` or :attr:`kernel_text`); one that cannot be read, or
        is larger than :attr:`Limits.kernel`, leaves the last good one in place."""
        if text is not None:
            self.kernel_text = text
        self._apply_kernel_text()

    def _apply_kernel_text(self) -> None:
        try:
            k = parse_filters(self.kernel_text)
        except MatrixError as e:
            self._parse_error(e, "kernel")
            return
        if max(k.shape[:2]) > LIMITS.kernel:
            self._set_message(f"A kernel can have at most {LIMITS.kernel} rows and columns.")
            return
        if k.ndim == 4 and k.shape[3] > LIMITS.filters:
            self._set_message(f"A typed kernel can have at most {LIMITS.filters} filters.")
            return
        self._set_message("")
        if self.kernel_source != "typed":
            self.kernel_source = "typed"
            self.inputs_changed.emit()
        self._apply(kernel=k)

    def use_typed_kernel(self, k: np.ndarray) -> None:
        """``k`` becomes the typed kernel, shown in the kernel editor (the caller applies it)."""
        self.kernel_source = "typed"
        self._load_text("kernel", k)

    def _load_text(self, which: str, m: np.ndarray) -> None:
        text = format_matrix(m)
        self.edit_text(which, text)
        self.text_loaded.emit(which, text)

    def _parse_error(self, e: MatrixError, which: str) -> None:
        what = "input" if which == "matrix" else "kernel"
        self._set_message(f"{e} The {what} shown is the last one that could be read.", which, e.span)

    def _set_message(self, text: str, which: str = "", span: tuple[int, int] | None = None) -> None:
        self.message = text
        self.message_changed.emit(text, which, span)

