"""The training pane's small engine jobs besides training: the model summary (Listing 2.2,
the first Keras import, while the table says "Loading TensorFlow…"), the augmentation preview
(Listing 4.4, Figure 4.8; bundled and generated sets are read here, a folder or a
keras.datasets file in the engine) and TensorFlow's devices. Each fills its part of the pane
when it comes back, unless the pane has closed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnviz.ml import datasets as data  # numpy + OpenCV only
from cnnviz.ml import distribute  # TensorFlow only inside its functions (run in the engine)
from cnnviz.ml.training_jobs import preview_from, preview_job, summary_job

if TYPE_CHECKING:
    from cnnviz.gui.panes.training.pane import TrainingPane

SUMMARY_CHANNEL = "training-summary"
PREVIEW_CHANNEL = "training-preview"
DEVICES_CHANNEL = "training-devices"


class SideJobs:
    def __init__(self, pane: TrainingPane) -> None:
        self.pane = pane
        self.summary_job = None
        self.preview_job = None
        self.devices_job = None
        self.summaries: dict[tuple[str, bool], dict] = {}

    @property
    def busy(self) -> bool:
        return self.summary_job is not None or self.preview_job is not None or self.devices_job is not None

    def jobs(self) -> tuple:
        return self.summary_job, self.preview_job, self.devices_job

    def _gone(self) -> bool:
        return self.pane._closed

    # -- summary (Listing 2.2), built on the worker ----------------------------------------------
    def request_summary(self) -> None:
        p = self.pane
        if not p._activated or p._closed:
            return
        key = p.form.summary_key()
        if key in self.summaries:
            p.side.show_summary(self.summaries[key])
            return
        first = not self.summaries
        p.side.show_summary_pending("Loading TensorFlow…" if first else f"Building {key[0]}…")
        if first:
            p.monitor.device_label.setText("Device: (loading TensorFlow…)")
        self.summary_job = p.ctx.worker.submit(
            summary_job, key[0], key[1], channel=SUMMARY_CHANNEL, describe=f"building the {key[0]} model",
            on_done=self._on_summary_done, on_error=self._on_summary_failed)

    def _on_summary_done(self, summary: dict) -> None:
        self.summary_job = None
        if self._gone():
            return
        p = self.pane
        key = (summary["model"], summary["functional"])
        self.summaries[key] = summary
        p.monitor.set_device(summary["device"])
        if key == p.form.summary_key():
            p.side.show_summary(summary)

    def _on_summary_failed(self, text: str) -> None:
        self.summary_job = None
        if not self._gone():
            self.pane.side.summary_title.setText(f"The model could not be built: {text}")

    # -- augmentation preview (Listing 4.4, Figure 4.8) --------------------------------------------
    def request_preview(self) -> None:
        """Show 4 samples and 12 random changes of them. Bundled and generated sets are cheap
        (a few ms) and done here; a folder or a keras.datasets file is read on the worker."""
        p = self.pane
        if p._closed:
            return
        try:
            request = p.form.preview_request()
        except ValueError as exc:
            p.side.preview_grid.clear(str(exc))
            return
        if request.local:
            try:
                self._on_preview_done(preview_from(data.load(request.dataset, **request.options), request.seed))
            except (ValueError, data.DatasetUnavailableError) as exc:
                self._on_preview_failed(str(exc))
            return
        p.side.preview_grid.clear(f"Reading {request.dataset}…")
        self.preview_job = p.ctx.worker.submit(
            preview_job, request.dataset, request.options, request.seed, channel=PREVIEW_CHANNEL,
            describe=f"reading {request.dataset}",
            on_done=self._on_preview_done, on_error=self._on_preview_failed)

    def _on_preview_done(self, preview: dict) -> None:
        self.preview_job = None
        if not self._gone():
            self.pane.side.show_preview(preview)

    def _on_preview_failed(self, text: str) -> None:
        self.preview_job = None
        if not self._gone():
            self.pane.side.clear_preview(f"No preview: {text}")

    # -- TensorFlow's devices --------------------------------------------------------------------
    def request_devices(self) -> None:
        self.devices_job = self.pane.ctx.worker.submit(
            distribute.devices, channel=DEVICES_CHANNEL, describe="listing TensorFlow's devices",
            on_done=self._on_devices_done, on_error=self._on_devices_failed)

    def _on_devices_done(self, devices: dict) -> None:
        self.devices_job = None
        if not self._gone():
            self.pane.settings.set_engine_devices(devices, self.pane.engine_split())

    def _on_devices_failed(self, _text: str) -> None:
        self.devices_job = None  # the devices line keeps saying what the settings expect
