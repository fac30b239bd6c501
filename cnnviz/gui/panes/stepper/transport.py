"""The stepper's transport: the timeline (scrub slider, step counter) above the buttons.

On one row they were wider than a projector's screen leaves beside the controls, and the slider
shrank to a stub. The bar owns the play timer; the pane connects the buttons to its actions.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cnnviz.gui.qtutil import signals_blocked
from cnnviz.state.stepper import LIMITS


class TransportBar(QWidget):
    """Reset / back / play / step / end buttons, the speed, the slider and the step counter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        transport = QVBoxLayout(self)
        transport.setContentsMargins(0, 0, 0, 0)
        timeline = QHBoxLayout()
        bar = QHBoxLayout()
        transport.addLayout(timeline)
        transport.addLayout(bar)
        self._bar = bar
        self.reset_button = self._button("|◀ Reset", "Back to the first step (Home)")
        self.back_button = self._button("◀ Back", "One step back (←)")
        self.play_button = self._button("▶ Play", "Play / pause (Space)")
        self.forward_button = self._button("Step ▶", "One step forward (→)")
        self.end_button = self._button("End ▶|", "Jump to the last step (End)")
        bar.addWidget(QLabel("Speed"))
        self.speed_spin = QDoubleSpinBox()
        self.speed_spin.setRange(*LIMITS.speed)
        self.speed_spin.setValue(2.0)
        self.speed_spin.setSuffix(" /s")
        self.speed_spin.setToolTip("Steps per second while playing")
        self.speed_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.speed_spin.valueChanged.connect(self._on_speed_changed)
        bar.addWidget(self.speed_spin)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        timeline.addWidget(self.slider, 1)
        self.step_counter = QLabel()
        self.step_counter.setMinimumWidth(110)
        timeline.addWidget(self.step_counter)
        bar.addStretch(1)
        self.gif_button = self._button("GIF…", "Export the walk as an animated GIF")
        self.png_button = self._button("PNG…", "Export this step as a PNG image")
        self.play_timer = QTimer(self)

    def _button(self, text: str, tip: str) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._bar.addWidget(b)
        return b

    def _interval(self) -> int:
        return max(16, int(1000 / self.speed_spin.value()))

    def _on_speed_changed(self, _v: float) -> None:
        if self.play_timer.isActive():
            self.play_timer.setInterval(self._interval())

    def start(self) -> None:
        self.play_timer.start(self._interval())
        self.play_button.setText("❚❚ Pause")

    def stop(self) -> None:
        self.play_timer.stop()
        self.play_button.setText("▶ Play")

    def is_playing(self) -> bool:
        return self.play_timer.isActive()

    def show_walk(self, n_steps: int) -> None:
        """A new walk: the slider's range; every control but the speed needs a step."""
        with signals_blocked(self.slider):
            self.slider.setRange(0, max(0, n_steps - 1))
        for b in (self.back_button, self.forward_button, self.play_button, self.reset_button,
                  self.end_button, self.gif_button, self.png_button, self.slider):
            b.setEnabled(n_steps > 0)

    def show_position(self, position: int, n_steps: int) -> None:
        with signals_blocked(self.slider):
            self.slider.setValue(position)
        self.step_counter.setText(f"Step {position + 1} of {n_steps}" if n_steps else "No steps")
