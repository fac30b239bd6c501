"""Siamese networks (chapter 5): how far apart a pair of digits is, the same/different verdict
at a threshold, the contrastive loss of the pair with its numbers, the shared base's embedding
map, and the triplet loss.

The rules and words are in :mod:`cnnviz.state.siamese`; the Keras work runs as the jobs of
:mod:`cnnviz.ml.siamese` in the engine (``ctx.worker``), which send back plain numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import Pane, fit_combos
from cnnviz.gui.panes.siamese.pages import (
    THRESHOLD_STEPS,
    DrawingBox,
    MapPage,
    ModelBox,
    NumbersBox,
    PairPage,
    TripletPage,
    scrolled,
    size_scale,
)
from cnnviz.gui.qtutil import MODEL_FILTER, debounce_timer, signals_blocked
from cnnviz.gui.widgets.draw_canvas import center_like_mnist
from cnnviz.gui.widgets.message_bar import plain_text
from cnnviz.gui.widgets.trust_dialog import ask_trust, declined_text, unattended_text
from cnnviz.ml.inspect import LoadFailed, LoadRefused, LoadRequest
from cnnviz.ml.siamese import (
    JOBS,
    AdoptRequest,
    DistancesRequest,
    DistancesResult,
    EmbeddingMap,
    EmbeddingRequest,
    NotSiamese,
    SiameseInfo,
    describe_request,
)
from cnnviz.state.activations import default_scaling
from cnnviz.state.session import resolve_path
from cnnviz.state.siamese import (
    BLANK_CANVAS,
    BUNDLED_MODEL,
    Digits,
    InputChoice,
    InputError,
    SiameseSettings,
    blank,
    contrastive_text,
    triplet_text,
    verdict_text,
)

#: Seconds a siamese job may take before the engine is taken to be hung.
SIAMESE_TIMEOUT_S = 120.0


class SiamesePane(Pane):
    """Pair distances, the embedding map and the triplet-loss calculator of a siamese model."""

    name = "siamese"
    title = "Siamese"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.settings = SiameseSettings()
        self.digits = Digits()
        self.info: SiameseInfo | None = None
        self.source: LoadRequest | None = None
        self.pair_result: DistancesResult | None = None
        self.triplet_result: DistancesResult | None = None
        self.map: EmbeddingMap | None = None
        self.last_error = ""
        self.loading = False
        self.started = False
        #: Decides whether a refused file with code may run it: True opens it trusted. The
        #: dialog by default; tests put their answer here.
        self.trust_prompt: Callable[[LoadRefused], bool] = self._ask_trust
        self.trust_box: QMessageBox | None = None  # the trust dialog while it is open
        self.unattended = False  # a screenshot is taken: nobody can answer a question
        self._requests = {"pair": 0, "triplet": 0, "map": 0}
        self._crashed: set[str] = set()
        self._want_map = False  # the next computation also maps the embeddings  # this pane's channels that were running when TensorFlow died
        self._rng = np.random.default_rng(0)
        self._compute_timer = debounce_timer(self, 0, self._compute)
        self._build_ui()
        self._apply_settings_to_widgets()
        ctx.model_offered.connect(self._on_model_offered)
        ctx.image_changed.connect(self._on_image_changed)
        engine = ctx.worker
        engine.crashed.connect(self._on_engine_trouble)
        engine.hung.connect(self._on_engine_trouble)
        engine.restarted.connect(self._on_engine_restarted)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        splitter, side = self._build_controls_column(360)
        model_box, numbers, drawing = ModelBox(), NumbersBox(), DrawingBox()
        for box in (model_box, numbers, drawing):
            side.addWidget(box)
        side.addStretch(1)
        self.model_label = model_box.model_label
        self.open_button, self.bundled_button = model_box.open_button, model_box.bundled_button
        self.open_button.clicked.connect(self._on_open_clicked)
        self.bundled_button.clicked.connect(lambda: self.open_model(resolve_path(BUNDLED_MODEL)))
        n = numbers
        self.threshold_slider, self.threshold_edit = n.threshold_slider, n.threshold_edit
        self.margin_edit, self.alpha_edit, self.number_error = n.margin_edit, n.alpha_edit, n.number_error
        self.threshold_slider.valueChanged.connect(self._on_threshold_slider)
        for name, edit in (("threshold", self.threshold_edit), ("margin", self.margin_edit),
                           ("alpha", self.alpha_edit)):
            edit.editingFinished.connect(lambda name=name, edit=edit: self._on_number(name, edit))
        self.canvas, self.clear_button = drawing.canvas, drawing.clear_button
        self.canvas.drawing_changed.connect(self._on_drawing_changed)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        pair, self.map_page, self.triplet_page = PairPage(), MapPage(), TripletPage()
        triplet = self.triplet_page
        self.tabs.addTab(scrolled(pair), "Pair distance")
        self.tabs.addTab(self.map_page, "Embedding map")
        self.tabs.addTab(scrolled(triplet), "Triplet loss")
        self.pickers = pair.pickers
        for p in self.pickers:
            p.changed.connect(self._on_pair_changed)
        self.same_button, self.different_button, self.y_combo = pair.same_button, pair.different_button, pair.y_combo
        self.same_button.clicked.connect(lambda: self.random_pair(True))
        self.different_button.clicked.connect(lambda: self.random_pair(False))
        self.y_combo.currentIndexChanged.connect(lambda _i: self._draw_pair())
        self.distance_label, self.scale = pair.distance_label, pair.scale
        self.contrastive_label = pair.contrastive_label
        self.triplet_pickers = triplet.triplet_pickers
        for p in self.triplet_pickers:
            p.changed.connect(self._on_triplet_changed)
        self._scale_fonts(False)
        fit_combos(self, 8)  # long choices and a projector's fonts never widen the pane
        # the pair's label sits in a row with room to spare: its few words are always whole
        self.y_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        root = self.layout()  # a box around the splitter: the bar goes above it, full width
        root.setDirection(QBoxLayout.Direction.TopToBottom)
        root.setStretchFactor(self._splitter, 1)  # the bar takes only the height of its text
        self.place_message_bar(root)

    def _scale_fonts(self, presentation: bool) -> None:
        big = QFont(self.font())
        if big.pointSizeF() > 0:
            big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.distance_label.setFont(big)
        size_scale(self.scale, presentation)
        self.triplet_page.set_presentation_mode(presentation)
        self.map_page.set_presentation_mode(presentation)

    # the parts of the tabs built when first shown (asking for one builds its tab)
    @property
    def map_label(self):
        return self.map_page.map_label

    @property
    def embedding_plot(self):
        return self.map_page.embedding_plot

    @property
    def triplet_scale(self):
        return self.triplet_page.triplet_scale

    @property
    def triplet_label(self):
        return self.triplet_page.triplet_label

    def _apply_settings_to_widgets(self) -> None:
        s = self.settings
        with signals_blocked(self.threshold_slider):
            self.threshold_slider.setValue(round(min(s.threshold, 3.0) * THRESHOLD_STEPS))
        self.threshold_edit.setText(f"{s.threshold:g}")
        self.margin_edit.setText(f"{s.margin:g}")
        self.alpha_edit.setText(f"{s.alpha:g}")
        for picker, c in zip(self.pickers, s.pair, strict=True):
            picker.set_choice(c)
        for picker, c in zip(self.triplet_pickers, s.triplet, strict=True):
            picker.set_choice(c)

    # ------------------------------------------------------------------ the model
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._start()

    def _start(self) -> None:
        if not self.started:
            self.started = True
            self.open_model(resolve_path(self.settings.model))

    def _submit(self, kind: str, request: Any, on_done, on_error) -> None:
        fn, channel = JOBS[kind]
        self.ctx.worker.submit(fn, request, channel=channel, on_done=on_done, on_error=on_error,
                               describe=describe_request(kind, request), timeout_s=SIAMESE_TIMEOUT_S)

    def open_model(self, path: str | Path, trust: bool = False) -> None:
        """Open a model file in the engine and check it is siamese."""
        self.started = True
        self.loading = True
        self.model_label.setText(f"Opening {Path(path).name}…")
        request = LoadRequest(str(path), trust)
        self._submit("open", request, lambda out: self._on_opened(out, request), self._on_load_error)

    @Slot(int, str, str)
    def _on_model_offered(self, model_id: int, name: str, path: str) -> None:
        """A model trained in the Training pane; used here when it is siamese."""
        self.started = True
        self.loading = True
        source = LoadRequest(path) if path else None
        self._submit("adopt", AdoptRequest(int(model_id), name),
                     lambda out: self._on_opened(out, source, offered=True), self._on_offer_failed)

    def _on_offer_failed(self, _text: str) -> None:
        self.loading = False  # the Activations pane, which the model was handed to, says why

    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a siamese model", "", MODEL_FILTER)
        if path:
            self.open_model(path)

    def _on_opened(self, out, source: LoadRequest | None, offered: bool = False) -> None:
        self.loading = False
        if isinstance(out, SiameseInfo):
            self.info, self.source = out, source
            self.settings.model = self.source.path if self.source else self.settings.model
            if source is not None and Path(source.path) == resolve_path(BUNDLED_MODEL):
                self.settings.model = BUNDLED_MODEL
            self._show_model()
            self.clear_message()
            self.last_error = ""
            self.map = None
            self.embedding_plot.mark(None, [])
            self.request_compute(map_too=True)
            if offered:
                self.ctx.post(f"The siamese model {out.name} is open in the Siamese pane too", 8000)
            return
        if offered and isinstance(out, NotSiamese):
            return  # a classifier handed over from training is for the Activations pane
        if isinstance(out, NotSiamese | LoadFailed):
            self._error(out.message)
        elif isinstance(out, LoadRefused):
            self._on_refused(out)

    def _on_refused(self, out: LoadRefused) -> None:
        """A file with code: ask whether it may run, as the Activations pane does; open it only
        after an explicit "Trust and open". Declined, the open model stays."""
        kept = " The open siamese model stays." if self.info is not None else ""
        if out.trusted or not out.can_trust:  # trusting would not help: nothing to ask
            self._error(f"{out.message}{kept}")
        elif self.unattended:
            self._error(unattended_text(out))
        elif self.trust_prompt(out):
            self.open_model(out.path, trust=True)
        else:
            self._error(declined_text(out, kept))

    def _ask_trust(self, out: LoadRefused) -> bool:
        """The dialog behind ``trust_prompt``: the user decides whether the file may run code."""
        try:
            return ask_trust(self, out, shown=lambda box: setattr(self, "trust_box", box))
        finally:
            self.trust_box = None

    def _on_load_error(self, text: str) -> None:
        self.loading = False
        self._error(text)

    def _show_model(self) -> None:
        """The open model in the model box (no "Opening …" left over from a failed open)."""
        out = self.info
        if out is None:
            self.model_label.setText("No siamese model is open.")
            return
        emb = f", embeddings of {out.embedding_size} values" if out.embedding_size else ""
        h, w, c = out.input_shape
        trusted = "\ntrusted: its code runs" if self.source is not None and self.source.trust else ""
        self.model_label.setText(f"{out.name}\ntwo inputs {h}×{w}×{c}{emb}, {out.params:,} "
                                 f"parameters{trusted}")

    def _error(self, text: str) -> None:
        self.last_error = plain_text(str(text))
        self.show_message(self.last_error, "error")
        self._show_model()

    # ------------------------------------------------------------------ numbers
    @Slot(int)
    def _on_threshold_slider(self, value: int) -> None:
        v = self.settings.set_number("threshold", value / THRESHOLD_STEPS)
        self.threshold_edit.setText(f"{v:g}")
        self._number_ok()
        self._draw_pair()

    def _on_number(self, name: str, edit: QLineEdit) -> bool:
        try:
            v = self.settings.set_number(name, edit.text())
        except InputError as exc:
            self.number_error.setText(str(exc))
            self.number_error.setVisible(True)
            return False
        self._number_ok()
        if name == "threshold":
            with signals_blocked(self.threshold_slider):
                self.threshold_slider.setValue(round(min(v, 3.0) * THRESHOLD_STEPS))
        self._draw_pair()
        self._draw_triplet()
        return True

    def _number_ok(self) -> None:
        self.number_error.setText("")
        self.number_error.setVisible(False)

    def set_number(self, name: str, text: str) -> bool:
        """Type a value into the threshold, margin m or α field (as a user would)."""
        edit = {"threshold": self.threshold_edit, "margin": self.margin_edit, "alpha": self.alpha_edit}[name]
        edit.setText(text)
        return self._on_number(name, edit)

    # ------------------------------------------------------------------ inputs
    def random_pair(self, same: bool) -> None:
        a = self.digits.random(self._rng)
        b = self.digits.random(self._rng, digit=a[0] if same else None, not_digit=None if same else a[0])
        if same and b[1] == a[1]:
            b = (b[0], (b[1] + 1) % self.digits.count(b[0]))
        with signals_blocked(*self.pickers):
            self.pickers[0].set_choice(InputChoice("digit", *a))
            self.pickers[1].set_choice(InputChoice("digit", *b))
        self._on_pair_changed()

    def set_pair(self, a: InputChoice, b: InputChoice) -> None:
        with signals_blocked(*self.pickers):
            self.pickers[0].set_choice(a)
            self.pickers[1].set_choice(b)
        self._on_pair_changed()

    def set_triplet(self, *choices: InputChoice) -> None:
        with signals_blocked(*self.triplet_pickers):
            for p, c in zip(self.triplet_pickers, choices, strict=True):
                p.set_choice(c)
        self._on_triplet_changed()

    def _image_for(self, c: InputChoice) -> np.ndarray | None:
        if c.kind == "digit":
            return self.digits.image(c.digit, c.index)
        if c.kind == "canvas":
            drawing = self.canvas.image()
            return None if blank(drawing) else center_like_mnist(drawing, out=28)
        img = self.ctx.image
        # a small gray model learnt white strokes on black: a dark-on-light picture is flipped
        if (img is not None and self.info is not None
                and default_scaling(self.info.input_shape, img) == "div255_inverted"):
            return 255 - np.asarray(img, np.uint8)
        return img

    def _images(self, pickers) -> tuple[list[np.ndarray] | None, str]:
        images = []
        for p in pickers:
            img = self._image_for(p.choice())
            p.show_image(img)
            if img is None:
                return None, BLANK_CANVAS
            images.append(img)
        return images, ""

    def _truth(self) -> bool | None:
        a, b = (p.choice() for p in self.pickers)
        if a.kind == "digit" and b.kind == "digit":
            return a.digit == b.digit
        return None

    def _on_pair_changed(self) -> None:
        self.settings.pair = [p.choice() for p in self.pickers]
        truth = self._truth()
        if truth is not None:
            with signals_blocked(self.y_combo):
                self.y_combo.setCurrentIndex(0 if truth else 1)
        self.y_combo.setEnabled(truth is None)
        self.request_compute()

    def _on_triplet_changed(self) -> None:
        self.settings.triplet = [p.choice() for p in self.triplet_pickers]
        self.request_compute()

    @Slot()
    def _on_drawing_changed(self) -> None:
        if any(p.choice().kind == "canvas" for p in (*self.pickers, *self.triplet_pickers)):
            self.request_compute()

    @Slot()
    def _on_image_changed(self) -> None:
        if any(p.choice().kind == "image" for p in (*self.pickers, *self.triplet_pickers)):
            self.request_compute()

    # ------------------------------------------------------------------ computing
    def request_compute(self, map_too: bool = False) -> None:
        self._want_map = self._want_map or map_too
        self._compute_timer.start()

    def flush(self) -> None:
        if self._compute_timer.isActive():
            self._compute_timer.stop()
            self._compute()

    def _compute(self) -> None:
        if self.info is None or self.loading:
            return
        mid, src = self.info.model_id, self.source
        images, why = self._images(self.pickers)
        if images is None:
            self.pair_result = None
            self.scale.show_values(None, self.settings.threshold, self.settings.margin)
            self.distance_label.setText(why)
            self.contrastive_label.setText("")
        else:
            n = self._requests["pair"] = self._requests["pair"] + 1
            self._submit("pair", DistancesRequest(mid, images, [(0, 1)], src),
                         lambda r, n=n: self._on_pair(r, n), self._on_job_error)
        images, why = self._images(self.triplet_pickers)
        if images is None:
            self.triplet_result = None
            self.triplet_scale.show_values(None, None, self.settings.alpha)
            self.triplet_label.setText(why)
        else:
            n = self._requests["triplet"] = self._requests["triplet"] + 1
            self._submit("triplet", DistancesRequest(mid, images, [(0, 1), (0, 2)], src),
                         lambda r, n=n: self._on_triplet(r, n), self._on_job_error)
        if self._want_map and self.info.embedding_size:
            self._want_map = False
            self.map_label.setText("Computing the embeddings of 300 bundled digits…")
            self._submit("map", EmbeddingRequest(mid, source=src), self._on_map, self._on_job_error)
        elif not self.info.embedding_size:
            self._want_map = False
            self.map_label.setText("This model's last layer does not receive two embeddings, so there "
                                   "is no embedding map; its distances are still shown.")

    def _on_job_error(self, text: str) -> None:
        self._error(text)

    def _on_pair(self, res: DistancesResult, n: int) -> None:
        if n != self._requests["pair"]:
            return
        self.pair_result = res
        self._draw_pair()
        self._mark_map()

    def _on_triplet(self, res: DistancesResult, n: int) -> None:
        if n != self._requests["triplet"]:
            return
        self.triplet_result = res
        self._draw_triplet()

    def _on_map(self, m: EmbeddingMap) -> None:
        self.map = m
        self.embedding_plot.draw(m.points, m.labels)
        self.map_label.setText(
            f"The shared base network's embeddings of {len(m.points)} bundled digits it never trained on, "
            f"projected to 2-D with PCA ({m.explained[0]:.0%} and {m.explained[1]:.0%} of the variance). "
            "A well-trained siamese net puts each digit in its own cluster; the stars are inputs A and B.")
        self._mark_map()

    def _mark_map(self) -> None:
        if self.map is None or self.pair_result is None or self.pair_result.embeddings is None:
            return
        e = self.pair_result.embeddings
        pts = (e - self.map.mean) @ self.map.components.T
        self.embedding_plot.mark(pts, ["A", "B"])

    def distance(self) -> float | None:
        return None if self.pair_result is None else float(self.pair_result.distances[0])

    def _draw_pair(self) -> None:
        d = self.distance()
        if d is None:
            return
        s = self.settings
        self.scale.show_values(d, s.threshold, s.margin)
        self.distance_label.setText(verdict_text(d, s.threshold, self._truth()))
        y = int(self.y_combo.currentData())
        self.contrastive_label.setText(f"Contrastive loss of this pair (y = {y}, margin m = {s.margin:g}):\n"
                                       + contrastive_text(d, y, s.margin))

    def _draw_triplet(self) -> None:
        r = self.triplet_result
        if r is None:
            return
        d_ap, d_an = float(r.distances[0]), float(r.distances[1])
        self.triplet_scale.show_values(d_ap, d_an, self.settings.alpha)
        self.triplet_label.setText(triplet_text(d_ap, d_an, self.settings.alpha))

    # ------------------------------------------------------------------ the engine
    @Slot(str, list)
    def _on_engine_trouble(self, text: str, channels: list) -> None:
        mine = {str(c) for c in channels if str(c).startswith("siamese")}
        if mine:
            self._crashed |= mine
            self._error(text)

    @Slot()
    def _on_engine_restarted(self) -> None:
        """The engine's models are gone: the next request reopens the model from its file. What
        was being computed when TensorFlow died is not tried again by itself (it would crash
        again): the next change of an input or a number asks for it."""
        crashed, self._crashed = self._crashed, set()
        if self.info is not None and self.source is not None:
            if "siamese.map" in crashed:
                self.map_label.setText("TensorFlow crashed while computing the embedding map, so it is "
                                       "not shown. Open the model again to try once more.")
            if crashed & {"siamese.pair", "siamese.triplet", "siamese.load"}:
                return
            self.request_compute(map_too=self.map is None and "siamese.map" not in crashed)
        elif self.info is not None:
            self._error("The engine restarted and the model handed over from training was not "
                        "saved to a file, so it is gone; train it again or open a file.")

    # ------------------------------------------------------------------ sessions and hooks
    def to_session(self) -> dict:
        return self.settings.to_session()

    def apply_session(self, d: dict) -> None:
        """Show a session's siamese part (checked whole first; a bad value changes nothing)."""
        old = self.settings.model
        self.settings.apply_session(d)
        self._apply_settings_to_widgets()
        if self.settings.model != old or self.info is None:
            self.open_model(resolve_path(self.settings.model))
        else:
            self.request_compute()

    def is_busy(self) -> bool:
        worker_busy = self.ctx.has_worker() and any(
            self.ctx.worker.is_busy(channel) for _, channel in JOBS.values())
        return bool(self.loading or worker_busy or self._compute_timer.isActive() or not self.started)

    def prepare_screenshot(self) -> None:
        self.unattended = True
        self._start()

    def set_presentation_mode(self, on: bool) -> None:
        self._set_controls_width(on)
        self._scale_fonts(on)
        # once the window has laid itself out in its new fonts, the column gets its width
        QTimer.singleShot(0, self, lambda: self._set_controls_width(on))

    def shutdown(self) -> None:
        self._compute_timer.stop()
