"""The convolution stepper: how a convolutional layer computes its output, one window at a time.

The truth is one :class:`cnnviz.state.stepper.StepperState` (plain Python): where the input and
kernel come from, the layer settings and the current step, with every number coming from
:mod:`cnnviz.core.convolution`. This pane wires it to its widgets: the controls column
(:mod:`.controls`), the stage with the grids and the texts (:mod:`.stage`) and the transport
(:mod:`.transport`).

Keys (whenever the pane is the current tab, except while typing in a text or spin box):
←/→ step, Space play/pause, Home/End.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Slot
from PySide6.QtGui import QImage, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressDialog,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.context import AppContext
from cnnviz.gui.export_anim import MAX_FRAMES, ExportCancelled, export_gif, plan_frames
from cnnviz.gui.panes.base import Pane, fit_combos
from cnnviz.gui.panes.stepper.controls import InputBox, KernelBox, LayerBox
from cnnviz.gui.panes.stepper.mode_box import ModeBox
from cnnviz.gui.panes.stepper.stage import ERROR_COLOR, StepperStage
from cnnviz.gui.panes.stepper.transport import TransportBar
from cnnviz.gui.qtutil import debounce_timer, signals_blocked
from cnnviz.gui.widgets.grid_view import NumberGridView
from cnnviz.state.stepper import CROP_SOURCES, StepperState

PRESENTATION_SCALE = 1.6
TEXT_SETTLE_MS = 350  # typing pauses this long before a typed matrix or kernel is read


class StepperPane(Pane):
    """Step a convolution, pooling or transposed convolution over a small matrix or image crop."""

    name = "stepper"
    title = "Convolution stepper"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = StepperState()
        self.state.set_picture(ctx.image)
        self._presentation = False
        self._exporting = False
        self.last_export_message = ""
        self._pending_text = ""  # which editor the debounce timer will read
        self._text_timer = debounce_timer(self, TEXT_SETTLE_MS, self._on_text_settled)
        self._build()
        self._connect()
        self.stage.redraw_walk()
        self._on_state_changed("walk")

    # ======================================================================================
    # building
    def _build(self) -> None:
        st = self.state
        root = QHBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(0, 0, 0, 0)
        self.input_box = InputBox(st)
        self.kernel_box = KernelBox(st, lambda: self.ctx.kernel)
        self.layer_box = LayerBox(st)
        self.mode_box = ModeBox(st)
        for box in (self.input_box, self.kernel_box, self.layer_box, self.mode_box):
            cl.addWidget(box)
        cl.addStretch(1)
        fit_combos(controls)
        for form in controls.findChildren(QFormLayout):
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a projector's fonts
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Never a horizontal scroll bar: the combo boxes shrink (fit_combos) and the rows wrap.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(380)
        self.controls_scroll = scroll
        root.addWidget(scroll)

        right = QVBoxLayout()
        self.stage = StepperStage(st)
        right.addWidget(self.stage, 1)
        self.hover_label = QLabel()
        self.hover_label.setWordWrap(True)
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hover_label.setStyleSheet("color: #5b2a86;")
        self.stage.hint_label = self.hover_label
        right.addWidget(self.hover_label)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;")
        right.addWidget(self.message_label)
        self.transport = TransportBar()
        right.addWidget(self.transport)
        root.addLayout(right, 1)
        self._apply_fonts()

        # The widgets a teacher (and the tests) drive, by their long-standing names.
        ib, kb, lb, tb, sg = self.input_box, self.kernel_box, self.layer_box, self.transport, self.stage
        self.source_combo, self.matrix_edit = ib.source_combo, ib.matrix_edit
        self.crop_top, self.crop_left, self.crop_h, self.crop_w = ib.crop_spins
        self.kernel_source_combo, self.kernel_preset_combo = kb.kernel_source_combo, kb.kernel_preset_combo
        self.kernel_edit, self.ksize_h, self.ksize_w, self.flip_check = kb.kernel_edit, kb.ksize_h, kb.ksize_w, kb.flip_check
        self.mode_combo, self.stride_h, self.stride_w = lb.mode_combo, lb.stride_h, lb.stride_w
        self.padding_combo, self.pad_spins, self.pad_mode_combo = lb.padding_combo, lb.pad_spins, lb.pad_mode_combo
        self.dil_h, self.dil_w, self.bias_spin, self.activation_combo = lb.dil_h, lb.dil_w, lb.bias_spin, lb.activation_combo
        self.slider, self.step_counter, self.speed_spin = tb.slider, tb.step_counter, tb.speed_spin
        self.forward_button, self.play_button = tb.forward_button, tb.play_button
        self.step_label, self.formula_label = sg.step_label, sg.formula_label
        self.input_views, self.input_labels = sg.input_views, sg.input_labels
        self.kernel_views, self.output_views = sg.kernel_views, sg.output_views

        # Window-wide shortcuts, so the keys work wherever the focus is (the tab bar after a tab
        # click or Ctrl+3, a button just clicked). They are enabled only while this pane is the
        # current tab (show/hide events); a text or spin box that has the focus keeps its own
        # keys, because it accepts the ShortcutOverride event Qt sends it first.
        self._shortcuts: list[QShortcut] = []
        for key, slot in (
            (Qt.Key.Key_Right, self.step_forward),
            (Qt.Key.Key_Left, self.step_back),
            (Qt.Key.Key_Space, self.toggle_play),
            (Qt.Key.Key_Home, self.reset),
            (Qt.Key.Key_End, self.go_to_end),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.setAutoRepeat(key != Qt.Key.Key_Space)
            sc.setEnabled(False)
            sc.activated.connect(slot)
            self._shortcuts.append(sc)

    def _connect(self) -> None:
        st, tb = self.state, self.transport
        st.changed.connect(self._on_state_changed)
        st.inputs_changed.connect(self._on_inputs_changed)
        st.text_loaded.connect(self._on_text_loaded)
        st.message_changed.connect(self._on_message)
        self.ctx.kernel_changed.connect(lambda: self.state.playground_kernel_changed(self.ctx.kernel))
        self.ctx.image_changed.connect(lambda: self.state.set_picture(self.ctx.image))
        self.source_combo.currentIndexChanged.connect(self.pause)
        self.matrix_edit.textChanged.connect(lambda: self._on_text_edited("matrix", self.matrix_edit))
        self.kernel_edit.textChanged.connect(lambda: self._on_text_edited("kernel", self.kernel_edit))
        for v in self.input_views:
            v.cell_hovered.connect(self._on_input_hovered)
            v.cell_clicked.connect(self._on_input_clicked)
        for v in self.output_views:
            v.cell_clicked.connect(self.jump_to_output)
            v.cell_hovered.connect(self._on_output_hovered)
        for button, slot in (
            (tb.reset_button, self.reset), (tb.back_button, self.step_back), (tb.play_button, self.toggle_play),
            (tb.forward_button, self.step_forward), (tb.end_button, self.go_to_end),
            (tb.gif_button, self._on_export_gif_clicked), (tb.png_button, self._on_export_png_clicked),
        ):
            button.clicked.connect(slot)
        tb.slider.valueChanged.connect(self._on_slider_moved)
        tb.play_timer.timeout.connect(self._on_play_tick)
        self._on_text_loaded("matrix", st.matrix_text)
        self._on_text_loaded("kernel", st.kernel_text)

    def _apply_fonts(self) -> None:
        self.stage.apply_fonts(self._scale())
        # a projector's fonts need the column's full width (the stage still gets twice as much)
        self.controls_scroll.setMaximumWidth(420 if self._presentation else 380)
        self.controls_scroll.setMinimumWidth(420 if self._presentation else 300)

    def _scale(self) -> float:
        return PRESENTATION_SCALE if self._presentation else 1.0

    # ======================================================================================
    # the state -> the widgets
    def _on_state_changed(self, what: str) -> None:
        st = self.state
        if what == "walk":
            self.kernel_box.sync()
            self.layer_box.sync()
            self.mode_box.sync()
            self.transport.show_walk(st.n_steps)
            if st.n_steps == 0:
                self.pause()
        self.transport.show_position(st.position, st.n_steps)
        if st.n_steps and st.at_end() and self.is_playing():
            self.pause()

    def _on_inputs_changed(self) -> None:
        self.input_box.sync()
        self.kernel_box.sync()

    def _on_text_loaded(self, which: str, text: str) -> None:
        edit = self.matrix_edit if which == "matrix" else self.kernel_edit
        with signals_blocked(edit):
            edit.setPlainText(text)

    def _on_message(self, text: str, which: str, span: tuple[int, int] | None) -> None:
        self.message_label.setText(text)
        if not which or span is None or span[1] <= span[0]:
            return
        edit = self.matrix_edit if which == "matrix" else self.kernel_edit
        n = len(edit.toPlainText())
        cur = edit.textCursor()
        cur.setPosition(min(span[0], n))
        cur.setPosition(min(span[1], n), QTextCursor.MoveMode.KeepAnchor)
        edit.setTextCursor(cur)

    # ======================================================================================
    # typing
    def _on_text_edited(self, which: str, edit: QPlainTextEdit) -> None:
        self.state.edit_text(which, edit.toPlainText())
        self._pending_text = which
        self._text_timer.start()

    @Slot()
    def _on_text_settled(self) -> None:
        which, self._pending_text = self._pending_text, ""
        if which == "matrix" or (not which and self.matrix_edit.hasFocus()):
            self.state.type_matrix()
        elif which == "kernel":
            self.state.type_kernel()

    # ======================================================================================
    # public driving (tests, screenshot, keys)
    @Slot()
    def step_forward(self) -> None:
        self.stage.focus_output = None
        self.state.step(1)

    @Slot()
    def step_back(self) -> None:
        self.stage.focus_output = None
        self.state.step(-1)

    @Slot()
    def reset(self) -> None:
        self.pause()
        self.stage.focus_output = None
        self.state.go_to(0)

    @Slot()
    def go_to_end(self) -> None:
        self.stage.focus_output = None
        self.state.go_to(self.state.n_steps - 1)

    @Slot()
    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        """Step on a timer at the chosen speed; starting at the end restarts from step 0."""
        if self.state.n_steps == 0:
            return
        if self.state.at_end():
            self.state.go_to(0)
        self.transport.start()

    @Slot()
    def pause(self, *_args) -> None:
        self.transport.stop()

    def is_playing(self) -> bool:
        return self.transport.is_playing()

    @Slot()
    def _on_play_tick(self) -> None:
        if not self.state.step(1):
            self.pause()

    @Slot(int)
    def _on_slider_moved(self, value: int) -> None:
        self.stage.focus_output = None
        self.state.go_to(value)

    def set_source(self, key: str) -> None:
        """Choose the input: one of ``SOURCES``' keys."""
        self.source_combo.setCurrentIndex(self.source_combo.findData(key))

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def set_padding(self, kind: str, pads: tuple[int, int, int, int] | None = None) -> None:
        """``kind`` is valid / same / explicit; ``pads`` = (top, bottom, left, right)."""
        s = self.state.settings
        t, b, l, r = pads if pads is not None else (*s.pads[0], *s.pads[1])
        self.state.update(padding=kind, pads=((t, b), (l, r)))

    def set_crop(self, top: int, left: int, height: int, width: int) -> None:
        self.state.set_crop(top, left, height, width)

    def set_matrix_text(self, text: str) -> None:
        """Type a matrix (as a user would) and apply it at once."""
        self.matrix_edit.setPlainText(text)
        self._text_timer.stop()
        self._on_text_settled()

    def set_kernel_text(self, text: str) -> None:
        self.kernel_edit.setPlainText(text)
        self._text_timer.stop()
        self._on_text_settled()

    def output_view(self, channel: int = 0) -> NumberGridView:
        return self.output_views[channel]

    def input_view(self, channel: int = 0) -> NumberGridView:
        return self.input_views[channel]

    # ======================================================================================
    # mouse on the grids
    @Slot(int, int)
    def _on_input_hovered(self, r: int, c: int) -> None:
        view = self.sender()
        ch = int(view.property("channel") or 0) if view is not None else 0
        self.set_hovered_input(ch, r, c)

    def set_hovered_input(self, channel: int, r: int, c: int) -> None:
        """Show which outputs input cell (r, c) of the shown (padded) input feeds; r < 0 clears."""
        if r < 0 or self.state.walk is None:
            self.stage.hover_input = None
        else:
            self.stage.hover_input = (channel, r, c)
            self.hover_label.setText(self.state.input_hover_text(channel, r, c))
        self.stage.redraw_highlights()

    def hovered_outputs(self) -> list[tuple[int, int]]:
        """Output cells highlighted as fed by the hovered input cell."""
        if self.stage.hover_input is None:
            return []
        _, r, c = self.stage.hover_input
        return self.state.outputs_fed_by(r, c)

    @Slot(int, int)
    def jump_to_output(self, i: int, j: int) -> None:
        """Go to the step that computes output (i, j) and highlight its receptive field."""
        n = self.state.step_for_output(i, j)
        if n is None:
            return
        self.pause()
        self.stage.focus_output = (i, j) if self.state.mode == "transpose" else None
        if n == self.state.position:
            self.stage.redraw_highlights()
        self.state.go_to(n)
        self.hover_label.setText(self.state.jump_text(i, j))

    @Slot(int, int)
    def _on_output_hovered(self, i: int, j: int) -> None:
        text = self.state.output_hover_text(i, j)
        if text is not None:
            self.hover_label.setText(text)

    @Slot(int, int)
    def _on_input_clicked(self, r: int, c: int) -> None:
        n = self.state.step_for_input(r, c)
        if n is not None:
            self.pause()
            self.stage.focus_output = None
            self.state.go_to(n)

    # ======================================================================================
    # export
    def frame_image(self) -> QImage:
        """The stage (grids, arithmetic, formula) as an image: what slides need."""
        return self.stage.grab().toImage()

    def export_png(self, path: str | Path) -> bool:
        ok = self.frame_image().save(str(path), "PNG")
        if ok:
            self.ctx.post(f"Saved step {self.state.position + 1} to {path}")
        else:
            self.ctx.error_posted.emit(f"Could not write {path}: check the folder exists and is writable.")
        return ok

    def _snapshot_stage(self) -> StepperStage:
        """A hidden stage drawing a snapshot of the state, looking like the one on screen: the
        user may go on editing while a GIF renders from it."""
        stage = StepperStage(self.state.snapshot())
        stage.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        stage.setFont(self.stage.font())
        stage.apply_fonts(self._scale())
        stage.resize(self.stage.size())
        stage.show()
        stage.redraw_walk()
        for views, shown in ((stage.input_views, self.stage.input_views),
                             (sum(stage.kernel_grid, []), sum(self.stage.kernel_grid, [])),
                             (stage.output_views, self.stage.output_views)):
            for copy, original in zip(views, shown):
                copy.copy_view(original)
        return stage

    def export_gif(self, path: str | Path, max_frames: int = MAX_FRAMES, show_progress: bool = True) -> int:
        """Write the walk as a looping GIF, one frame per step (sampled evenly down to
        ``max_frames``), rendered from a snapshot of the state when the export starts; the window
        keeps processing events. Returns the frame count (0 when cancelled or nothing to export)."""
        n = self.state.n_steps
        if n == 0 or self._exporting:
            return 0
        self.pause()
        steps = plan_frames(n, max_frames)
        self.last_export_message = self.state.export_plan_text(n, len(steps))
        stage = self._snapshot_stage()
        dialog = None
        if show_progress:
            dialog = QProgressDialog("Rendering the walk…", "Cancel", 0, len(steps), self)
            dialog.setWindowTitle("Export GIF")
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(300)

        def render(step: int) -> QImage:
            stage.state.go_to(step)
            # lay the texts out as they are drawn on screen (only layout events, no user input)
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            return stage.grab().toImage()

        def progress(done: int, total: int) -> bool:
            if dialog is not None:
                dialog.setValue(done)
            QApplication.processEvents()
            return not (dialog is not None and dialog.wasCanceled())

        self._exporting = True
        try:
            if dialog is not None:
                dialog.setLabelText(self.last_export_message + "\nRendering frames…")
            frames = export_gif(
                path, render, steps, fps=self.speed_spin.value(), progress=progress,
                idle=QApplication.processEvents,
            )
        except ExportCancelled:
            self.last_export_message = "GIF export cancelled; nothing was written."
            frames = 0
        except (OSError, ValueError) as e:
            self.last_export_message = f"Could not write the GIF: {e}"
            frames = 0
        finally:
            self._exporting = False
            if dialog is not None:
                dialog.close()
            stage.close()
            stage.deleteLater()
        if frames:
            self.last_export_message += f" Saved {frames} frames to {path}."
            self.ctx.post(self.last_export_message, 10000)
        else:
            self.ctx.error_posted.emit(self.last_export_message)
        self.hover_label.setText(self.last_export_message)
        return frames

    @Slot()
    def _on_export_gif_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export walk as GIF", "cnnviz-stepper.gif", "GIF animation (*.gif)")
        if path:
            self.export_gif(path)

    @Slot()
    def _on_export_png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export step as PNG", "cnnviz-stepper.png", "PNG image (*.png)")
        if path:
            self.export_png(path)

    # ======================================================================================
    # Pane hooks
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        for sc in self._shortcuts:
            sc.setEnabled(True)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().hideEvent(event)
        for sc in self._shortcuts:
            sc.setEnabled(False)

    def is_busy(self) -> bool:
        return self._exporting or self._text_timer.isActive() or self.mode_box.is_busy()

    def prepare_screenshot(self) -> None:
        """The book's 4×4 example with zero padding 1 and stride 2, stopped at step 4 of 9."""
        st = self.state
        if st.source in CROP_SOURCES and st.n_steps:
            st.go_to(min(3, st.n_steps - 1))
            return
        self.set_source("book")
        self.set_mode("conv")
        st.update(stride=2)
        self.set_padding("explicit", (1, 1, 1, 1))
        st.go_to(3)

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        self._apply_fonts()

    def shutdown(self) -> None:
        self.transport.stop()
        self._text_timer.stop()
