"""Training pane: train the book's models on offline data and watch the curves live.

The training itself is :func:`cnnviz.ml.training.run` — the book's ``model.fit`` with its
callbacks — running in the engine, the child process that owns TensorFlow (``ctx.worker``,
channel ``"training"``), as :func:`cnnviz.ml.training_jobs.train_job`. This pane wires the Qt-free
:class:`~cnnviz.state.training.TrainingForm` (the settings and their rules, which make the
:class:`~cnnviz.ml.training.TrainConfig`) to its widgets, submits the jobs, and hands the plain
reports to the :class:`~.monitor.RunMonitor` (curves and words) and the :class:`~.side.SideTabs`
(summary, augmentation preview, log). The trained model stays in the engine's model store; only
its id reaches this process.

Keras is never imported in this process: the model summary (Listing 2.2) is built in the engine
too, the first time the pane is shown, while the table says "Loading TensorFlow…". If TensorFlow
dies while a model trains, the run's ``run.json`` is marked "crashed", its last checkpoint is
kept, and the pane says so: Continue from checkpoint goes on from it.

One run at a time: a second Start while a run trains is refused with a message (the engine
trains on one lane, and two runs would share the computer's memory and cores and each train at
half speed; a queued run would start at a moment nobody chose).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import BuiltWhenShown, Pane
from cnnviz.gui.panes.training import curves
from cnnviz.gui.panes.training.columns import build_columns
from cnnviz.gui.panes.training.engine_link import crashed_outcome, engine_split, split_env
from cnnviz.gui.panes.training.side import GRADIENTS_TAB, PREVIEW_TAB, column_widths
from cnnviz.gui.panes.training.side_jobs import SideJobs
from cnnviz.ml.training_jobs import TrainOutcome, train_job
from cnnviz.state import training as words
from cnnviz.state.activations import engine_trouble
from cnnviz.state.training import RunProgress, TrainingForm

CHANNEL = "training"


def default_runs_root() -> Path:
    """Where runs go unless the user picks a folder: the per-user data folder's ``runs``.

    Qt names that folder after the organisation and then the application, both "cnnviz"
    (``~/.local/share/cnnviz/cnnviz``): the name is given once (``~/.local/share/cnnviz/runs``)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    if not base:
        return Path.home() / ".cnnviz" / "runs"
    folder = Path(base)
    if folder.name == folder.parent.name:
        folder = folder.parent
    return folder / "runs"


class TrainingPane(BuiltWhenShown, Pane):
    """Controls on the left, live curves in the middle, model summary / augmentation / log right.
    The widgets are built when the pane is first shown (or one is asked for), from the form."""

    name = "training"
    title = "Training"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.form = TrainingForm(default_runs_root())
        self.run_progress = RunProgress()
        self._job = None  # the training job while one runs
        self._pending_config = None  # a run waiting for TensorFlow to restart with its CPU split
        self.side_jobs = SideJobs(self)  # summary, augmentation preview and devices
        self._activated = False
        self._closed = False
        self._screenshot_pending = False
        self._presentation = False
        self._run_dir: Path | None = None
        self.result: TrainOutcome | None = None  # how the last run ended
        self._devices_stale = False  # the engine restarted before the widgets were built
        # Asked before a dataset is downloaded: (dataset name, size text) -> True to download.
        # Tests answer it themselves; the default is a dialog.
        self.download_prompt: Callable[[str, str], bool] = self._ask_download
        self.form.changed.connect(self._on_form_changed)
        self.ctx.worker.restarted.connect(self._on_engine_restarted)
        self.ctx.worker.dead.connect(self._on_engine_dead)

    def _ask_download(self, name: str, size: str) -> bool:
        return self.settings.ask_download(name, size)

    def _built(self) -> None:
        if self._devices_stale:
            self.settings.set_engine_devices(None, self.engine_split())
        self._set_running(self._job is not None or self._pending_config is not None)
        if self._presentation:
            self.set_presentation_mode(True)

    def _build(self) -> None:
        build_columns(self)

    # -- what tests and scripts read -------------------------------------------------------------
    @property
    def device(self) -> str:
        return self.monitor.device

    @property
    def epoch_reports(self) -> list[dict]:
        """This run's epoch dicts, as the engine sent them."""
        return self.run_progress.epoch_reports

    @property
    def _batches_seen(self) -> int:
        return self.run_progress.batches_seen

    @property
    def _last_info(self) -> dict | None:
        return self.run_progress.last_info

    def model_name(self) -> str:
        return self.form.model

    def dataset_name(self) -> str:
        return self.form.dataset

    def outcome_text(self) -> str:
        return self.monitor.outcome_label.text()

    def log_text(self) -> str:
        return self.side.log_view.toPlainText()

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """The table as shown (for tests and export)."""
        return self.side.summary_rows()

    def engine_split(self) -> int:
        """The logical CPUs the engine's processor is split into (or will be when it starts)."""
        return engine_split(self.ctx.worker.env_overrides)

    def is_running(self) -> bool:
        return self._job is not None

    # -- choosing --------------------------------------------------------------------------------
    def set_model(self, name: str) -> None:
        """Choose a zoo model (as picking it in the list does)."""
        self.form.set_model(name)

    def set_dataset(self, name: str) -> None:
        self.form.set_dataset(name)

    def set_folder(self, path: str | Path) -> None:
        """Train on an image folder (one subfolder per class)."""
        self.form.set_dataset("folder")
        self.form.set_folder(str(path))
        self._on_folder_chosen()

    def set_output_root(self, path: str | Path) -> None:
        """The folder each new run folder is made in."""
        self.form.set_output_root(str(path))

    def output_root(self) -> Path:
        return self.form.output_root()

    def make_config(self, out_dir: Path, resume_from: Path | None = None):
        """A TrainConfig from the settings (raises ValueError with words for bad input)."""
        return self.form.make_config(out_dir, resume_from)

    def _on_form_changed(self, what: str) -> None:
        if what == "model":
            if self.form.augment:
                self.side_jobs.request_preview()
            self.side_jobs.request_summary()
        elif what == "functional":
            self.side_jobs.request_summary()
        elif what == "dataset":
            if self.form.augment:
                self.side_jobs.request_preview()
        elif what == "augment":
            if self.form.augment:
                self.side.setCurrentIndex(PREVIEW_TAB)
                self.side_jobs.request_preview()
            else:
                self.side.clear_preview()

    @Slot()
    def _on_folder_chosen(self) -> None:
        if self.form.augment:
            self.side_jobs.request_preview()

    @Slot()
    def _on_preview_button_clicked(self) -> None:
        self.form.next_preview_round()
        self.side_jobs.request_preview()

    # -- running -----------------------------------------------------------------------------
    def start(self, resume_from: str | Path | None = None, plan: words.ContinuePlan | None = None) -> bool:
        """Start a run with the settings; False (with a message) if it cannot start. ``plan``
        (continuing from a checkpoint) says whether the checkpoint's run goes on in its folder."""
        if self._closed:
            return False
        if self._job is not None or self._pending_config is not None:
            self._show_outcome("failed", words.ALREADY_RUNNING)
            return False
        from cnnviz.ml import training  # run folders and run.json only: no TensorFlow here

        try:
            same_run = plan is not None and plan.same_run
            run_dir = plan.run.path if same_run else training.new_run_dir(self.form.output_root(), self.form.model)
            config = self.form.make_config(run_dir, Path(resume_from) if resume_from else None)
        except ValueError as exc:
            self._show_outcome("failed", str(exc))
            return False
        if not self._allow_download(config):
            return False
        self.result = None
        shown = curves.shown_batches(self.monitor, plan, self._run_dir)
        self._run_dir = run_dir
        earlier = plan is not None and (plan.same_run or plan.has_earlier_curves)
        self.run_progress.reset(config.epochs, resumed=config.resume_from is not None,
                                run_start=0 if earlier else None)
        self.monitor.reset()
        curves.drop_earlier_curves(self.monitor)
        self.side.log_view.clear()
        if plan is not None:
            curves.carry_curves(self.monitor, plan, shown)
            self.side.log(plan.note)
            self.ctx.post(plan.note, 10000)
        self.side.log(f"Run folder: {run_dir}")
        self.side.start_task_view(words.task_tab_of(self.form.dataset), config.epochs)
        if self._presentation and self.side.task_view is not None:  # in sight on a projector
            self.set_presentation_mode(True)
        if config.gradient_flow:
            self.side.gradients.start_run(config.model)
            self.side.setCurrentIndex(GRADIENTS_TAB)
        self.monitor.show_starting(first=not self.side_jobs.summaries)
        self._set_running(True)
        devices = self.settings.engine_devices
        split = self.form.cpu_split_to_start(self.engine_split(), len(devices["gpus"]) if devices else 0)
        if split is not None and self.ctx.worker.started:
            # TensorFlow splits the CPU only when it starts: a fresh engine, then the run.
            text = self.form.restart_message(split)
            self.side.log(text)
            self.ctx.post(text, 10000)
            self.monitor.show_restarting(text)
            self._pending_config = config
            self.ctx.worker.restart(reason="to split the CPU", env_overrides=split_env(split))
            return True
        if split is not None:  # not started yet: the first engine starts with the split
            self.ctx.worker.restart(reason="to split the CPU", env_overrides=split_env(split))
        self._submit_training(config)
        return True

    def _submit_training(self, config) -> None:
        self._job = self.ctx.worker.submit(
            train_job, config, channel=CHANNEL, supersede=False, describe=f"training {config.model}",
            on_done=self._on_training_done, on_error=self._on_training_failed,
            on_progress=self._on_training_progress)

    @Slot()
    def _on_engine_restarted(self) -> None:
        """A fresh engine: the models and devices of the old one are gone. A run that waited
        for it starts now; the devices are asked again, and a summary that was lost rebuilt."""
        if self._closed:
            return
        if self.is_built:
            self.settings.set_engine_devices(None, self.engine_split())
        else:
            self._devices_stale = True
        config, self._pending_config = self._pending_config, None
        if config is not None:
            self._submit_training(config)
        if self._activated:
            self.side_jobs.request_devices()
            if self.form.summary_key() not in self.side_jobs.summaries:
                self.side_jobs.request_summary()

    @Slot(str)
    def _on_engine_dead(self, text: str) -> None:
        if self._pending_config is not None and not self._closed:
            self._pending_config = None
            self.monitor.show_not_trained()
            self._show_outcome("failed", text)
            self._set_running(False)

    def _allow_download(self, config) -> bool:
        """A Keras dataset that is not on this computer is downloaded only when the user agrees
        (asked through ``download_prompt``); False (with the reason shown) when they do not."""
        needed = self.form.download_needed(config)
        if needed is None:
            return True
        if not self.download_prompt(*needed):
            self._show_outcome("failed", self.form.download_refused(needed[0]))
            return False
        self.form.allow_download(config)
        return True

    def continue_from(self, checkpoint: str | Path) -> bool:
        """Continue training from a saved checkpoint, with the model and data of its run: the
        same run (folder, curves, epoch numbers) when it is where that run ended, else a new run
        with the earlier run's curves greyed (:func:`~cnnviz.state.training.continue_plan`)."""
        path = Path(checkpoint)
        if not path.is_file():
            self._show_outcome("failed", f"The checkpoint '{path}' does not exist.")
            return False
        plan = words.continue_plan(path)
        # A checkpoint from elsewhere (no run.json) trains with the chosen model's settings.
        self.form.take_settings_of(plan.run)
        return self.start(resume_from=path, plan=plan)

    @Slot()
    def _on_continue_clicked(self) -> None:
        r = self.result
        start = str(r.run_dir / "checkpoints") if r is not None and r.run_dir else str(self.form.output_root())
        path, _ = QFileDialog.getOpenFileName(self, "Continue from checkpoint", start,
                                              "Keras checkpoints (*.keras *.h5);;All files (*)")
        if path:
            self.continue_from(path)

    def stop(self) -> None:
        """Finish the current batch, then end the run keeping the model (and a checkpoint)."""
        if self._pending_config is not None:  # still waiting for TensorFlow to restart
            self._pending_config = None
            self.monitor.show_not_trained()
            self._show_outcome("stopped", "Stopped before the run started.")
            self._set_running(False)
            return
        if self._job is None:
            return
        self._job.stop()
        self.settings.stop_button.setEnabled(False)
        self.monitor.show_stopping()
        self.side.log("Stop pressed: finishing the current batch.")

    def _set_running(self, running: bool) -> None:
        self.monitor.set_running(running, self.result)
        self.settings.set_running(running)

    @Slot(object)
    def _on_training_progress(self, payload: dict) -> None:
        if self._closed:
            return
        kind = payload.get("kind")
        if kind == "batches":
            self.monitor.show_batches(payload, stopping=self._job is not None and self._job.stopped)
        elif kind == "epoch":
            self.side.log(self.monitor.show_epoch(payload["info"]))
        elif kind == "diverged":
            self.monitor.mark_diverged(payload)
        elif kind == "task_view":
            self.side.show_task_report(payload["report"])
        elif kind == "gradients":
            self.side.gradients.show_report(payload["report"])
        elif kind == "strategy":
            info = payload["info"]
            self.monitor.show_replicas(info["replicas"], info["global_batch_size"])
        elif kind == "message":
            self.side.log(payload["text"])
            if payload["text"].startswith("Training on "):
                self.monitor.set_device(payload["text"][len("Training on "):].rstrip("."))

    @Slot(object)
    def _on_training_done(self, result: TrainOutcome) -> None:
        self._job = None
        self.result = result
        if self._closed:
            return
        self.monitor.show_done(result)
        self._show_outcome(result.status, words.outcome_message(result.status, result.message,
                                                                result.last_good_checkpoint))
        self._set_running(False)
        self._screenshot_pending = False

    @Slot(str)
    def _on_training_failed(self, text: str) -> None:
        self._job = None
        self._screenshot_pending = False
        if self._closed:
            return
        message = f"Training failed: {text}"
        if engine_trouble(text) and self._run_dir is not None:
            self.result = crashed_outcome(self._run_dir, text)
            message += words.crashed_note(self.result.last_good_checkpoint)
        self.monitor.show_not_trained()
        self._show_outcome("failed", message)
        self._set_running(False)

    def _show_outcome(self, status: str, text: str) -> None:
        self.monitor.show_outcome(status, text)
        self.side.log(text)
        self.ctx.post(text.splitlines()[0], 10000)

    # -- after training ------------------------------------------------------------------------
    @Slot()
    def _on_open_folder_clicked(self) -> None:
        if self.result is not None and self.result.run_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.run_dir)))

    def inspect(self) -> bool:
        """Hand the trained model (by its id in the engine's store, and its saved file) to the
        activations pane."""
        r = self.result
        if r is None or not r.inspectable:
            return False
        folder = r.run_dir.name if r.run_dir is not None else ""
        saved = r.final_path if r.final_path is not None and Path(r.final_path).is_file() else None
        self.ctx.offer_model(r.model_id, f"{r.model_name} ({folder})" if folder else r.model_name, saved)
        return True

    # -- pane hooks ----------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._activated and not self._closed:
            self._activated = True  # Keras is imported from here on, on the worker
            self.settings.set_engine_devices(None, self.engine_split())
            self.side_jobs.request_summary()
            self.side_jobs.request_devices()

    def is_busy(self) -> bool:
        return self._screenshot_pending or self.side_jobs.busy

    def prepare_screenshot(self) -> None:
        """Train 3 epochs of Listing 2.1 (pooled) on 1,536 digits so the plots show real curves
        (``CNNVIZ_TRAINING_EXAMPLE=unet_small`` or ``siamese_mnist``: their Masks or Pairs tab)."""
        if not self._activated:
            self._activated = True
            self.side_jobs.request_summary()
            self.side_jobs.request_devices()
        model = os.environ.get("CNNVIZ_TRAINING_EXAMPLE", "mnist_fast")
        model = model if model in words.SCREENSHOT_EXAMPLES else "mnist_fast"
        dataset, samples, epochs, batch = words.SCREENSHOT_EXAMPLES[model]
        self.set_model(model)
        self.set_dataset(dataset)
        self.samples_spin.setValue(samples)
        self.epochs_spin.setValue(epochs)
        self.batch_spin.setValue(batch)
        folder = tempfile.mkdtemp(prefix="cnnviz-screenshot-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # after the worker has ended
        self.set_output_root(Path(folder))
        self._screenshot_pending = self.start()

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        if not self.is_built:
            return
        self.monitor.set_presentation_mode(on)
        self.side.set_presentation_mode(on)
        # On a projector the curves matter most: the summary/augmentation/log column folds away
        # (its splitter handle brings it back), unless it shows a run's masks or pairs.
        self._splitter.setSizes(column_widths(on, max(900, sum(self._splitter.sizes())), self.settings,
                                              self.monitor, self.side))

    def close_question(self) -> str | None:
        """What to ask before the window quits: only while a run trains."""
        return words.CLOSE_WHILE_TRAINING if self._job is not None and not self._closed else None

    def mark_interrupted(self) -> bool:
        """The window had to quit before the run could end: say so in its run.json (the
        checkpoints saved so far stay valid). True if a running run was marked."""
        if self._job is None or self._run_dir is None:
            return False
        from cnnviz.ml import training

        return training.mark_interrupted(self._run_dir, words.INTERRUPTED_MESSAGE)

    def shutdown(self) -> None:
        """Stop the run (it finishes its batch and saves a checkpoint while the window joins
        the worker) and ignore whatever it reports afterwards."""
        self._closed = True
        self._pending_config = None
        for job in (self._job, *self.side_jobs.jobs()):
            if job is not None:
                job.stop()
        if self.is_built:
            self.monitor.stop_updates()
