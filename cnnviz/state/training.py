"""The training form as plain Python (no Qt): every setting of a run and the rules they follow.

:class:`TrainingForm` holds the model, the dataset, the numbers of the run and where it goes,
with the form's rules: each setting's range and default, which datasets suit which model (the
model's own dataset first, as the book pairs them), the optimizers offered, the learning rate
typed as text, the seed's range, the download question for a Keras dataset that is not on this
computer, and which samples the augmentation preview shows. :meth:`TrainingForm.make_config`
turns it into the :class:`cnnviz.ml.training.TrainConfig` the engine runs. Views write into the
form on input and redraw on ``changed(field)``.

It also reads a run folder (``run.json``, ``log.csv``, the checkpoints) into plain dataclasses,
to show a run or to continue one with the model and data it was trained with.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnviz.ml import datasets as data  # numpy + OpenCV only
from cnnviz.ml import distribute, zoo  # TensorFlow/Keras only inside their functions
from cnnviz.state.events import Event

__all__ = [
    "DATASET_TITLES",
    "DOWNLOAD_SIZES",
    "GENERATED",
    "KERAS_DATASETS",
    "LIMITS",
    "SEED_MAX",
    "STRATEGY_CHOICES",
    "DatasetChoice",
    "EpochRow",
    "PreviewRequest",
    "RunFolder",
    "TrainingForm",
    "list_checkpoints",
    "read_log_csv",
    "read_run",
    "read_run_json",
    "replicas_text",
    "run_folder_of",
]

#: Sets generated on demand: "Samples" says how many to make ("n").
GENERATED: tuple[str, ...] = ("shapes", "segmentation", "digit_pairs")
#: The keras.datasets sets, downloaded on first use.
KERAS_DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist", "cifar10")
#: Download sizes of the keras.datasets sets, for the question asked before fetching one.
DOWNLOAD_SIZES = {"mnist": "11 MB", "fashion_mnist": "30 MB", "cifar10": "170 MB"}
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

#: The largest seed the form takes (what a spin box holds); the engine accepts up to 2**32 - 1.
SEED_MAX = 2**31 - 1
#: field -> (lowest, highest) of the numeric settings; "samples" 0 means "all".
LIMITS: dict[str, tuple[float, float]] = {
    "samples": (0, 1_000_000),
    "validation_split": (0.0, 0.9),
    "epochs": (1, 10_000),
    "batch_size": (1, 1_000_000),
    "seed": (0, SEED_MAX),
    "cpu_replicas": (1, 8),
}
DEFAULTS: dict[str, Any] = {
    "samples": 0,
    "validation_split": 0.1,
    "augment": False,
    "epochs": 3,
    "batch_size": 32,
    "learning_rate_text": "",
    "seed": 0,
    "reduce_lr": False,
    "save_h5": False,
    "gradient_flow": False,
    "strategy": "auto",
    "cpu_replicas": 1,
}
#: (strategy, text, hover text) of the data-parallel choices (cnnviz.ml.distribute).
STRATEGY_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("auto", "Auto", "MirroredStrategy when more than one GPU is visible (or the CPU is split "
     "into several replicas), otherwise one device."),
    ("none", "None (one device)", "No data parallelism: the whole batch on one device."),
    ("mirrored", "Mirrored",
     "tf.distribute.MirroredStrategy: every replica (GPU, or CPU replica) holds a copy of the "
     "model and takes an equal share of each batch; their gradients are summed before each "
     "update. With one device it runs with one replica."),
)
PREVIEW_COLUMNS = 4  # samples on top of the augmentation preview (and changes per sample: 3 rows)


@dataclass(frozen=True)
class DatasetChoice:
    """One entry of the dataset list: its name, the text shown and the hover text."""

    name: str
    label: str
    tooltip: str


@dataclass(frozen=True)
class PreviewRequest:
    """What the augmentation preview loads: ``data.load(dataset, **options)``, changed with
    ``seed``. ``local``: cheap enough for the GUI thread (bundled and generated sets)."""

    dataset: str
    options: dict[str, Any]
    seed: int
    local: bool


def _clamp_int(value: Any, lo: float, hi: float) -> int:
    return int(min(max(int(round(float(value))), int(lo)), int(hi)))


class TrainingForm:
    """The settings of the next run. Setters keep each value in its range (as the form's spin
    boxes do) and emit ``changed(field)`` when it changed; choosing a model also chooses its own
    dataset and the book's optimizer (one ``changed("model")`` says all three changed)."""

    def __init__(self, runs_root: str | Path, model: str | None = None) -> None:
        self.changed = Event()
        self.default_runs_root = Path(runs_root)
        self.output_root_text = str(self.default_runs_root)
        self.model = model or zoo.NAMES[0]
        zoo.spec(self.model)  # raises for an unknown model
        self.functional = False
        self.dataset = data.compatible(self.model)[0]
        self.folder = ""
        self.optimizer: str | None = None
        self.samples: int = DEFAULTS["samples"]
        self.validation_split: float = DEFAULTS["validation_split"]
        self.augment: bool = DEFAULTS["augment"]
        self.epochs: int = DEFAULTS["epochs"]
        self.batch_size: int = DEFAULTS["batch_size"]
        self.learning_rate_text: str = DEFAULTS["learning_rate_text"]
        self.seed: int = DEFAULTS["seed"]
        self.reduce_lr: bool = DEFAULTS["reduce_lr"]
        self.save_h5: bool = DEFAULTS["save_h5"]
        self.gradient_flow: bool = DEFAULTS["gradient_flow"]
        self.strategy: str = DEFAULTS["strategy"]
        self.cpu_replicas: int = DEFAULTS["cpu_replicas"]
        # Why the CPU replicas as typed cannot be used ("" when they can): the setting keeps the
        # last good number meanwhile.
        self.cpu_replicas_entry_problem = ""
        self.preview_round = 0  # "New random changes" presses

    # -- changing ------------------------------------------------------------------------------
    def _put(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self.changed.emit(name)

    def set_model(self, name: str) -> None:
        """Choose a zoo model: its own dataset and the book's optimizer come with it."""
        if name not in zoo.NAMES:
            raise ValueError(f"unknown model '{name}'")
        if name == self.model:
            return
        self.model = name
        self.optimizer = None
        self.dataset = data.compatible(name)[0]  # each model's own dataset first (the book's pairing)
        self.changed.emit("model")

    def set_functional(self, on: bool) -> None:
        self._put("functional", bool(on))

    def set_dataset(self, name: str) -> None:
        if name not in data.compatible(self.model):
            raise ValueError(f"'{name}' does not suit {self.model}")
        self._put("dataset", name)

    def set_folder(self, path: str | Path) -> None:
        self._put("folder", str(path))

    def set_optimizer(self, name: str | None) -> None:
        if name is not None and name not in zoo.OPTIMIZERS:
            raise ValueError(f"Unknown optimizer '{name}'; choose one of {', '.join(zoo.OPTIMIZERS)}.")
        self._put("optimizer", name)

    def set_samples(self, n: int) -> None:
        self._put("samples", _clamp_int(n, *LIMITS["samples"]))

    def set_validation_split(self, share: float) -> None:
        lo, hi = LIMITS["validation_split"]
        self._put("validation_split", round(min(max(float(share), lo), hi), 2))

    def set_augment(self, on: bool) -> None:
        self._put("augment", bool(on))

    def set_epochs(self, n: int) -> None:
        self._put("epochs", _clamp_int(n, *LIMITS["epochs"]))

    def set_batch_size(self, n: int) -> None:
        self._put("batch_size", _clamp_int(n, *LIMITS["batch_size"]))

    def set_learning_rate_text(self, text: str) -> None:
        self._put("learning_rate_text", str(text))

    def set_seed(self, seed: Any) -> None:
        """A seed names a run, so it is never bent into range: ValueError with words instead."""
        self._put("seed", self.check_seed(seed))

    def set_reduce_lr(self, on: bool) -> None:
        self._put("reduce_lr", bool(on))

    def set_save_h5(self, on: bool) -> None:
        self._put("save_h5", bool(on))

    def set_gradient_flow(self, on: bool) -> None:
        """Measure how much gradient reaches each layer while training (section 4.2)."""
        self._put("gradient_flow", bool(on))

    def set_strategy(self, name: str) -> None:
        """"auto", "none" or "mirrored" (ValueError with words for anything else)."""
        if name not in distribute.STRATEGIES:
            raise ValueError(f"Unknown strategy '{name}'; choose one of {', '.join(distribute.STRATEGIES)}.")
        self._put("strategy", name)

    def set_cpu_replicas(self, n: int) -> None:
        """Logical CPU devices to split the processor into (1 = no split)."""
        self.cpu_replicas_entry_problem = ""
        self._put("cpu_replicas", _clamp_int(n, *LIMITS["cpu_replicas"]))

    def enter_cpu_replicas(self, n: Any) -> None:
        """The "CPU replicas" box as a student typed it: a whole number from 1 to the highest
        becomes the setting; anything else keeps the last good one and says why
        (:meth:`replicas_problem`), which keeps Start from running."""
        lo, hi = map(int, LIMITS["cpu_replicas"])
        try:
            distribute.check("mirrored", n, 0)
        except ValueError as exc:
            problem = str(exc)
        else:
            problem = "" if int(n) <= hi else (
                f"At most {hi} CPU replicas: a processor split further only adds overhead. "
                f"Choose {lo} (no split) to {hi}.")
        if problem:
            self.cpu_replicas_entry_problem = problem
            self.changed.emit("cpu_replicas")
            return
        was = self.cpu_replicas_entry_problem
        self.set_cpu_replicas(int(n))
        if was and self.cpu_replicas == int(n):
            self.changed.emit("cpu_replicas")

    def set_output_root(self, path: str | Path) -> None:
        """The folder each new run folder is made in (as typed; empty means the default)."""
        self._put("output_root_text", str(path))

    def next_preview_round(self) -> None:
        """New random changes for the augmentation preview (the samples stay)."""
        self.preview_round += 1
        self.changed.emit("preview_round")

    # -- rules -----------------------------------------------------------------------------------
    @staticmethod
    def check_seed(seed: Any) -> int:
        """The seed as an int (a whole number, or text of one); ValueError saying the range for
        anything else."""
        value: int | None = None
        if isinstance(seed, bool):
            value = None
        elif isinstance(seed, int):
            value = seed
        elif isinstance(seed, float) and seed.is_integer():
            value = int(seed)
        elif isinstance(seed, str) and seed.strip().lstrip("+-").isdigit():
            value = int(seed.strip())
        if value is None or not 0 <= value <= SEED_MAX:
            shown = str(seed).strip() or "nothing"
            raise ValueError(f"The seed must be a whole number from 0 to {SEED_MAX}, not {shown}.")
        return value

    @property
    def spec(self) -> zoo.ModelSpec:
        return zoo.spec(self.model)

    def model_choices(self) -> list[tuple[str, str, str]]:
        """(name, text, hover text) of every model, in the zoo's order."""
        out = []
        for name in zoo.NAMES:
            s = zoo.spec(name)
            out.append((name, f"{s.title} — {s.listing}", zoo.describe(name)))
        return out

    def model_description(self) -> str:
        return zoo.describe(self.model)

    def functional_available(self) -> bool:
        """Whether the model has a functional-API variant (Listing 5.2)."""
        return "functional" in self.spec.options

    def functional_effective(self) -> bool:
        return self.functional and self.functional_available()

    def summary_key(self) -> tuple[str, bool]:
        """Which model summary the form shows: (model, functional variant)."""
        return self.model, self.functional_effective()

    def dataset_choices(self) -> list[DatasetChoice]:
        """The datasets that suit the model, its own first; a Keras set not on this computer
        says so."""
        out = []
        for name in data.compatible(self.model):
            label = name
            if name in KERAS_DATASETS and not data.is_cached(name):
                label += " (not downloaded)"
            out.append(DatasetChoice(name, label, data.describe(name)))
        return out

    def dataset_description(self) -> str:
        return data.describe(self.dataset)

    def uses_folder(self) -> bool:
        return self.dataset == "folder"

    def optimizer_choices(self) -> list[tuple[str | None, str]]:
        """(optimizer, text): the book's choice for this model first (None), then each one."""
        return [(None, f"Book's ({self.spec.optimizer})"), *((o, o) for o in zoo.OPTIMIZERS)]

    def learning_rate_placeholder(self) -> str:
        return f"{self.spec.learning_rate:g} (the book's)"

    def learning_rate(self) -> float | None:
        """The typed learning rate, None for the book's; ValueError with words otherwise."""
        text = self.learning_rate_text.strip().replace(",", ".")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"The learning rate '{text}' is not a number; type e.g. 0.001 or 1e-3.") from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"The learning rate must be a positive number, not {text}.")
        return value

    def replicas_problem(self) -> str | None:
        """Why the data-parallel settings cannot work with this batch size, or None."""
        if self.cpu_replicas_entry_problem:
            return self.cpu_replicas_entry_problem
        try:
            distribute.check(self.strategy, self.cpu_replicas, self.batch_size)
        except ValueError as exc:
            return str(exc)
        return None

    def batch_split_text(self, gpus: int = 0) -> str:
        """How each batch is shared ("Global batch 32 = 2 replicas × 16"): between the CPU
        replicas, or with ``gpus`` GPUs in the engine between them (auto and mirrored)."""
        return f"Global batch {distribute.batch_split(self.batch_size, self.expected_replicas(gpus))}"

    def expected_replicas(self, gpus: int = 0) -> int:
        """The replicas a run with these settings gets in an engine with ``gpus`` GPUs (with one
        GPU, auto uses it alone and mirrored mirrors onto it alone: one replica either way)."""
        if self.strategy == "none":
            return 1
        return int(gpus) if gpus else self.cpu_replicas

    def devices_text(self, devices: dict | None, engine_split: int = 1) -> str:
        """The devices a run uses, in words: ``devices`` is what the engine sees (``{"gpus":
        [...], "cpus": N}``, None before it said), ``engine_split`` how many logical CPUs its
        processor is split into now."""
        gpus = len(devices["gpus"]) if devices else 0
        if gpus:
            gpu_words = "1 GPU" if gpus == 1 else f"{gpus} GPUs"
            if self.strategy == "none":
                return f"{gpu_words}: one device, no data parallelism"
            if gpus == 1:
                return ("1 GPU: mirrored runs with one replica" if self.strategy == "mirrored"
                        else "1 GPU: one replica")
            return f"{gpu_words}: mirrored runs with {gpus} replicas"
        if self.strategy == "none":
            return "CPU: one device, no data parallelism"
        n = self.cpu_replicas
        if n > 1:
            text = f"{n} logical CPUs"
            if int(engine_split) != n:
                text += " (TensorFlow restarts to split the CPU when you press Start)"
            return text
        text = "1 CPU: mirrored runs with one replica" if self.strategy == "mirrored" else "1 CPU: one replica"
        if int(engine_split) != 1:
            text += " (TensorFlow restarts with the CPU whole when you press Start)"
        return text

    def cpu_split_to_start(self, engine_split: int, gpus: int = 0) -> int | None:
        """The CPU split a run needs when the engine's (``engine_split``) is not it: TensorFlow
        splits the CPU only in a fresh process, so the engine restarts with it first. None when
        the engine can run it as it is (no data parallelism, or GPUs do it)."""
        if self.strategy == "none" or gpus:
            return None
        return self.cpu_replicas if self.cpu_replicas != int(engine_split) else None

    def output_root(self) -> Path:
        text = self.output_root_text.strip()
        return Path(text).expanduser() if text else self.default_runs_root

    def make_config(self, out_dir: Path, resume_from: Path | None = None):
        """The :class:`~cnnviz.ml.training.TrainConfig` of these settings (ValueError with
        words for bad input)."""
        from cnnviz.ml.training import TrainConfig

        problem = self.replicas_problem()
        if problem:
            raise ValueError(problem)
        samples = self.samples or None
        options: dict[str, Any] = {}
        if self.dataset == "folder":
            folder = self.folder.strip()
            if not folder:
                raise ValueError("Choose an image folder (one subfolder per class) to train on.")
            options["path"] = folder
        elif self.dataset in GENERATED and samples:
            options["n"] = samples
        return TrainConfig(
            model=self.model,
            dataset=self.dataset,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate(),
            optimizer=self.optimizer,
            validation_split=self.validation_split,
            augment=self.augment,
            seed=self.seed,
            reduce_lr_on_plateau=self.reduce_lr,
            out_dir=out_dir,
            save_h5=self.save_h5,
            resume_from=resume_from,
            max_samples=samples,
            functional=self.functional_effective(),
            dataset_options=options,
            strategy=self.strategy,
            cpu_replicas=self.cpu_replicas,
            gradient_flow=self.gradient_flow,
        )

    @staticmethod
    def restart_message(cpus: int) -> str:
        """What the pane says while the engine restarts to split (or join) the CPU."""
        if int(cpus) > 1:
            return f"Restarting TensorFlow with {int(cpus)} logical CPUs…"
        return "Restarting TensorFlow with the CPU whole (one replica)…"

    # -- downloads -------------------------------------------------------------------------------
    @staticmethod
    def download_needed(config) -> tuple[str, str] | None:
        """(dataset, size) when the run needs a Keras dataset that is not on this computer."""
        name = config.dataset if isinstance(config.dataset, str) else None
        if name not in DOWNLOAD_SIZES or data.is_cached(name):
            return None
        return name, DOWNLOAD_SIZES[name]

    @staticmethod
    def allow_download(config) -> None:
        """The user agreed: the run may fetch its dataset."""
        config.dataset_options["allow_download"] = True

    @staticmethod
    def download_question(name: str, size: str) -> str:
        title = DATASET_TITLES.get(name, name)
        return (f"Download {title} ({size}) from the internet?\n\nIt is kept on this computer for "
                f"later runs. Without a connection, choose the bundled 'digits' set instead.")

    @staticmethod
    def download_refused(name: str) -> str:
        return (f"{DATASET_TITLES.get(name, name)} is not downloaded, so nothing was trained. "
                f"Choose a bundled set such as 'digits', or allow the download.")

    # -- augmentation preview --------------------------------------------------------------------
    def preview_request(self) -> PreviewRequest:
        """The samples the preview shows: they follow the run's seed; "New random changes" only
        re-rolls the changes. ValueError (with words) when there is nothing to preview."""
        name = self.dataset
        spec = self.spec
        options: dict[str, Any] = {"seed": self.seed}
        if name in GENERATED:
            options["n"] = 8
        if name in ("shapes", "segmentation"):
            options.update(size=spec.input_shape[0], channels=spec.input_shape[2])
        if name == "folder":
            folder = self.folder.strip()
            if not folder:
                raise ValueError("Choose an image folder to preview it")
            options.update(path=folder, size=spec.input_shape[:2], channels=spec.input_shape[2],
                           max_per_class=PREVIEW_COLUMNS)
        return PreviewRequest(name, options, self.seed * 1000 + self.preview_round,
                              local=name in ("digits", *GENERATED))

    # -- continuing a run ------------------------------------------------------------------------
    def take_settings_of(self, run: RunFolder) -> None:
        """Continue with the model and data a run was trained with (what is unknown or does not
        fit stays as chosen)."""
        config = run.config
        if config.get("model") in zoo.NAMES:
            self.set_model(config["model"])
        if config.get("dataset") in data.compatible(self.model):
            self.set_dataset(config["dataset"])
            options = config.get("dataset_options")
            folder = options.get("path") if isinstance(options, dict) else None
            if config["dataset"] == "folder" and folder:
                self.set_folder(str(folder))


    # -- sessions ----------------------------------------------------------------------------
    _SESSION_NUMBERS = ("samples", "validation_split", "epochs", "batch_size", "cpu_replicas")
    _SESSION_FLAGS = ("functional", "augment", "reduce_lr", "save_h5", "gradient_flow")

    def to_session(self) -> dict:
        """The form's part of a session file (see :mod:`cnnviz.state.session`); where runs are
        written stays this computer's own choice."""
        d: dict[str, Any] = {"model": self.model, "dataset": self.dataset, "folder": self.folder,
                             "optimizer": self.optimizer, "learning_rate_text": self.learning_rate_text,
                             "seed": self.seed, "strategy": self.strategy}
        for name in (*self._SESSION_NUMBERS, *self._SESSION_FLAGS):
            d[name] = getattr(self, name)
        return d

    def apply_session(self, d: dict) -> None:
        """Take a session's settings; everything is checked first, so a bad value raises
        :class:`~cnnviz.state.session.SessionError` and changes nothing."""
        from cnnviz.state.session import Fields, SessionError

        f = Fields(d, "training")
        model = f.choice("model", zoo.NAMES, self.model)
        values: dict[str, Any] = {
            "dataset": f.choice("dataset", data.compatible(model), data.compatible(model)[0]),
            "folder": f.text("folder", ""),
            "optimizer": f.choice("optimizer", (None, *zoo.OPTIMIZERS), None),
            "learning_rate_text": f.text("learning_rate_text", DEFAULTS["learning_rate_text"]),
            "seed": f.number("seed", *LIMITS["seed"], DEFAULTS["seed"], integer=True),
            "strategy": f.choice("strategy", distribute.STRATEGIES, DEFAULTS["strategy"]),
        }
        for name in self._SESSION_NUMBERS:
            values[name] = f.number(name, *LIMITS[name], DEFAULTS[name], integer=name != "validation_split")
        for name in self._SESSION_FLAGS:
            values[name] = f.flag(name, DEFAULTS.get(name, False))
        if values["functional"] and "functional" not in zoo.spec(model).options:
            raise SessionError(f"The session asks for the functional form of {model}, which has none.")
        self.set_model(model)
        setters = {"dataset": self.set_dataset, "folder": self.set_folder, "optimizer": self.set_optimizer,
                   "learning_rate_text": self.set_learning_rate_text, "seed": self.set_seed,
                   "strategy": self.set_strategy, "samples": self.set_samples,
                   "validation_split": self.set_validation_split, "epochs": self.set_epochs,
                   "batch_size": self.set_batch_size, "cpu_replicas": self.set_cpu_replicas,
                   "functional": self.set_functional, "augment": self.set_augment,
                   "reduce_lr": self.set_reduce_lr, "save_h5": self.set_save_h5,
                   "gradient_flow": self.set_gradient_flow}
        for name in ("folder", "dataset", *[k for k in setters if k not in ("folder", "dataset")]):
            setters[name](values[name])


# --- run folders -------------------------------------------------------------------------------


@dataclass
class EpochRow:
    """One row of ``log.csv`` (Keras's CSVLogger): ``epoch`` counts from 1."""

    epoch: int
    values: dict[str, float]


@dataclass
class RunFolder:
    """What a run folder says about its run. Everything is optional: a folder from elsewhere
    or one still being written may lack any part."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    message: str = ""
    epochs_completed: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    last_good_checkpoint: Path | None = None
    device: str = ""
    log: list[EpochRow] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)

    @property
    def model(self) -> str | None:
        return self.config.get("model")

    @property
    def dataset(self) -> str | None:
        return self.config.get("dataset")


def run_folder_of(checkpoint: str | Path) -> Path:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/x.keras`` or ``<run>/x.keras``)."""
    path = Path(checkpoint)
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``run.json``; OSError or ValueError when it is missing or not a JSON object."""
    info = json.loads((Path(run_dir) / "run.json").read_text())
    if not isinstance(info, dict):
        raise ValueError("run.json does not hold an object")
    return info


def read_log_csv(run_dir: str | Path) -> list[EpochRow]:
    """The rows of ``log.csv`` ([] when there is none); cells that are not numbers are left out."""
    try:
        text = (Path(run_dir) / "log.csv").read_text()
    except OSError:
        return []
    rows = []
    for row in csv.DictReader(text.splitlines()):
        values: dict[str, float] = {}
        for key, cell in row.items():
            if key is None or key == "epoch":
                continue
            try:
                values[key] = float(cell)
            except (TypeError, ValueError):
                pass
        try:
            epoch = int(row.get("epoch") or "") + 1
        except ValueError:
            continue
        rows.append(EpochRow(epoch, values))
    return rows


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The model files in ``checkpoints/``, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix in (".keras", ".h5") and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def read_run(run_dir: str | Path) -> RunFolder:
    """Everything a run folder holds, read without Keras; a missing or broken ``run.json``
    leaves the fields from it empty."""
    path = Path(run_dir)
    run = RunFolder(path, log=read_log_csv(path), checkpoints=list_checkpoints(path))
    try:
        info = read_run_json(path)
    except (OSError, ValueError):
        return run
    config = info.get("config")
    run.config = config if isinstance(config, dict) else {}
    run.status = info.get("status") if isinstance(info.get("status"), str) else None
    run.message = str(info.get("message") or "")
    try:
        run.epochs_completed = int(info.get("epochs_completed") or 0)
    except (TypeError, ValueError):
        pass
    history = info.get("history")
    if isinstance(history, dict):
        run.history = {str(k): list(v) for k, v in history.items() if isinstance(v, list)}
    good = info.get("last_good_checkpoint")
    run.last_good_checkpoint = Path(good) if isinstance(good, str) and good else None
    run.device = str(info.get("device") or "")
    return run


def checkpoint_epochs(checkpoint: str | Path) -> int | None:
    """The whole epochs a checkpoint has behind it, from its name (``epoch-03.keras``: 3;
    ``epoch-03-partial.keras``: 2, epoch 3 is trained again); None for another name."""
    match = re.search(r"epoch-(\d+)(-partial)?", Path(checkpoint).name)
    if not match:
        return None
    return int(match.group(1)) - (1 if match.group(2) else 0)


@dataclass
class ContinuePlan:
    """Where continuing from a checkpoint goes. From where its run ended (its newest
    checkpoint), the same run goes on in its folder; from anywhere else (an earlier checkpoint,
    another program's file), a new run starts and the earlier run's curves are shown greyed."""

    checkpoint: Path
    run: RunFolder
    same_run: bool
    after_epoch: int
    note: str

    @property
    def has_earlier_curves(self) -> bool:
        return bool(earlier_epochs(self.run))


def continue_plan(checkpoint: str | Path) -> ContinuePlan:
    path = Path(checkpoint)
    run = read_run(run_folder_of(path))
    after = checkpoint_epochs(path)
    if after is None:
        after = run.epochs_completed
    is_run = run.status is not None
    same_kind = [c for c in run.checkpoints if c.suffix == path.suffix]
    ends = {p.resolve() for p in (same_kind[-1:] + ([run.last_good_checkpoint] if run.last_good_checkpoint else []))}
    same = is_run and run.status != "running" and path.resolve() in ends
    if same:
        note = (f"Continuing the run {run.path.name} after epoch {after}: same folder, its curves "
                f"and epoch numbers carry on.")
    elif is_run:
        note = (f"{path.name} is not where the run {run.path.name} ended, so continuing from it "
                f"starts a new run; the earlier run's curves are shown in grey.")
    else:
        note = f"{path.name} is not from a cnnviz run folder, so continuing from it starts a new run."
    return ContinuePlan(path, run, same, after, note)


def earlier_epochs(run: RunFolder, upto: int | None = None) -> list[dict]:
    """A run folder's whole epochs (``log.csv``, else run.json's history) as the epoch reports
    the engine sends, up to epoch ``upto``: partial epochs are left out."""
    rows = [(r.epoch, r.values) for r in run.log]
    if not rows and run.history.get("loss"):
        keys = list(run.history)
        rows = [(i + 1, {k: run.history[k][i] for k in keys if i < len(run.history[k])})
                for i in range(len(run.history["loss"]))]
    reports = []
    for epoch, values in rows:
        if values.get("partial") or (upto is not None and epoch > upto) or "loss" not in values:
            continue
        reports.append({
            "epoch": epoch, "epochs": epoch, "loss": values["loss"], "val_loss": values.get("val_loss"),
            "metrics": {k: v for k, v in values.items() if k not in ("loss", "val_loss", "partial")},
            "partial": False, "nan": False,
        })
    return reports


# --- a run in progress, in words ----------------------------------------------------------------

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"  # the book's matplotlib figures
METRIC_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
OTHER_COLOR = "#5f6368"
STATUS_COLORS = {"finished": "#188038", "stopped": "#b06000", "nan": "#d93025", "failed": "#d93025"}
STATUS_FORMATS = {"finished": "Finished", "stopped": "Stopped", "nan": "Stopped: the loss diverged",
                  "failed": "Not trained"}
#: Metrics the engine reports that are not scores to plot (MSE, which Listing 6.1 compiles, is a
#: second loss: it stays in the log).
NOT_PLOTTED = ("learning_rate", "lr", "mse", "val_mse", "val_mask_jaccard", "val_mask_dice")


def clock(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; "—" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def metric_title(key: str) -> str:
    return {"accuracy": "Accuracy", "dice_coef": "Dice", "jaccard": "Jaccard", "mse": "MSE",
            "pair_accuracy": "Pair accuracy"}.get(key, key.replace("_", " ").capitalize())


def epoch_range(info: dict) -> tuple[int, int]:
    """The epochs a run covers, from a batch report (a continued run starts past 0)."""
    end = int(info["epochs"])
    return end - int(info["steps"]) // max(1, int(info["batches"])), end


def progress_format(info: dict, stopping: bool) -> str:
    """The progress bar's text for a batch report (``%p`` is the bar's percentage)."""
    tail = " — stopping after this batch…" if stopping else ""
    return (f"Epoch {info['epoch']}/{info['epochs']} · batch {info['batch']}/{info['batches']} · "
            f"%p%{tail}")


def eta_text(info: dict) -> str:
    eta = info.get("eta_s")
    return f"ETA {clock(eta)}" if eta is not None else "ETA —"


def speed_text(rate: float | None) -> str:
    return f"{rate:,.0f} samples/s" if rate else ""


def lr_text(lr: float | None) -> str | None:
    """The learning rate's words, None when the report has no usable one (keep the last)."""
    return f"learning rate {lr:.3g}" if lr is not None and math.isfinite(lr) else None


def replicas_text(replicas: int, global_batch: int) -> str:
    """How a run's steps were shared: "2 replicas × 32 = 64 per step" ("1 replica: 32 per step"
    without data parallelism; uneven shares as "1–2")."""
    n, b = max(1, int(replicas)), int(global_batch)
    if n == 1:
        return f"1 replica: {b} per step"
    return f"{n} replicas × {distribute.replica_share(b, n)} = {b} per step"


def epoch_note(info: dict) -> str:
    """The log line of an epoch report."""
    note = f"Epoch {int(info['epoch'])}/{info['epochs']}: loss {info['loss']:.4g}"
    if info.get("val_loss") is not None:
        note += f", validation loss {info['val_loss']:.4g}"
    for key, value in (info.get("metrics") or {}).items():
        note += f", {key} {value:.4g}"
    if info.get("checkpoint"):
        note += f" — saved {Path(info['checkpoint']).name}"
    if info.get("partial"):
        note += " (partial epoch)"
    return note


def epoch_plotted(info: dict) -> bool:
    """A cut-short or diverged epoch's mean is not comparable with whole epochs: not plotted."""
    return not (info.get("partial") or info.get("nan"))


def plotted_metrics(info: dict) -> dict[str, float]:
    return {k: v for k, v in (info.get("metrics") or {}).items() if k not in NOT_PLOTTED}


def diverged_mark(loss: float) -> str:
    return f"loss {'NaN' if math.isnan(loss) else f'{loss:.2g}'}"


@dataclass(frozen=True)
class MetricSeries:
    """How the metric plot draws one metric: its legend entry (None: no entry of its own),
    colour and dash, and the plot's title, heading, axis label and legend for the metrics so far."""

    key: str
    legend: str | None
    color: str
    dashed: bool
    single: bool
    columns: int
    heading: str
    axis: str


def metric_series(key: str, metrics: dict[str, float]) -> MetricSeries:
    """One metric, train and validation of one score in the book's colours; several scores in
    their own colours, validation dashed, accuracy first."""
    base = key[4:] if key.startswith("val_") else key
    bases = sorted({k[4:] if k.startswith("val_") else k for k in metrics}, key=lambda k: (k != "accuracy", k))
    single = len(bases) == 1
    val = key.startswith("val_")
    if single:
        legend, color, dashed = ("validation" if val else "train"), (VAL_COLOR if val else TRAIN_COLOR), False
    else:  # one legend entry per metric; validation is the dashed line of the same colour
        color = METRIC_COLORS[bases.index(base) % len(METRIC_COLORS)] if base in bases else OTHER_COLOR
        legend, dashed = (None if val else metric_title(base)), val
    title = metric_title(bases[0]) if single else "Metrics"
    heading = (f"{title} per epoch" + (" (Figure 2.20)" if bases == ["accuracy"] else "")
               if single else "Metrics (dashed: validation)")
    return MetricSeries(key, legend, color, dashed, single, len(bases), heading,
                        title.lower() if single else "value")


def outcome_message(status: str, message: str, last_good_checkpoint: Path | None) -> str:
    text = message
    if status == "nan" and last_good_checkpoint is not None:
        text += f"\nLast good checkpoint: {last_good_checkpoint}"
    return text


def crashed_note(last_good_checkpoint: Path | None) -> str:
    """What is left of a run TensorFlow died in, and what to do."""
    text = ' Its run.json is marked "crashed".'
    if last_good_checkpoint is None:
        return text + " No checkpoint was saved before it: start the run again."
    return (text + f" Its last checkpoint, {Path(last_good_checkpoint).name}, is kept: press "
            "Continue from checkpoint… to go on from it.")


CLOSE_WHILE_TRAINING = "Training is running. Stop after this batch and quit?"
INTERRUPTED_MESSAGE = ("The program was closed before the current batch and the saving of the model "
                       "could finish; the last checkpoint in this folder is the model to use.")
ALREADY_RUNNING = ("A training run is already in progress: press Stop or wait until it ends before "
                   "starting another.")


class RunProgress:
    """What the window knows of the run in progress, from the plain reports of the worker."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, epochs: int, resumed: bool = False, run_start: int | None = None) -> None:
        # A continued run's epochs are known once its first batch reports them; ``run_start``
        # keeps earlier epochs in view (a run carried on, or an earlier run's curves shown).
        self.run_start = run_start
        self.epochs = (0, int(epochs)) if not resumed else (-1, -1)
        self.batches_seen = 0
        self.last_info: dict | None = None
        self.epoch_reports: list[dict] = []
        self.metric_keys: list[str] = []

    def take_batches(self, payload: dict) -> tuple[int, int] | None:
        """Count a chunk of batches; the new epoch range when it changed."""
        info = payload["info"]
        self.last_info = info
        self.batches_seen += len(payload["x"])
        span = epoch_range(info)
        if self.run_start is not None:
            span = (min(self.run_start, span[0]), span[1])
        if span != self.epochs:
            self.epochs = span
            return span
        return None

    def take_epoch(self, info: dict) -> list[MetricSeries]:
        """Record an epoch report; the metric series to add for it (new keys only)."""
        self.epoch_reports.append(info)
        if not epoch_plotted(info):
            return []
        metrics = plotted_metrics(info)
        new = [metric_series(k, metrics) for k in metrics if k not in self.metric_keys]
        self.metric_keys.extend(s.key for s in new)
        return new


# --- gradient flow (section 4.2), in words ------------------------------------------------------

GRADIENTS_WAITING = "Turn on “Gradient flow” and press Start to see how much gradient reaches each layer."


def gradient_flow_caption(report: dict, model: str) -> str:
    """The line under the gradient-flow plot: where the report was taken and what is left of
    the gradient at the input side."""
    where = f"{model}, epoch {report['epoch']} batch {report['batch']}"
    ratio = report.get("ratio")
    if ratio is None:
        return f"{where}: the last layer gets no gradient."
    return (f"{where}: the first layer gets {ratio:.3g}× the gradient of the last "
            f"({report['first']:.3g} vs {report['last']:.3g}).")


# --- what segmentation and siamese runs do (chapters 5 and 6), in words ------------------------

#: The side tab each kind of run gets, by the dataset's task.
TASK_TABS = {"segmentation": "Masks", "pairs": "Pairs"}
TASK_WAITING = {
    "segmentation": "The validation masks appear at the end of the first epoch.",
    "pairs": "The validation pairs and their distances appear at the end of the first epoch.",
}


#: The runs a screenshot of the pane trains: model -> (dataset, samples, epochs, batch size).
SCREENSHOT_EXAMPLES = {"mnist_fast": ("digits", 1536, 3, 16), "unet_small": ("segmentation", 64, 5, 8),
                       "siamese_mnist": ("digit_pairs", 1536, 4, 32)}


def task_tab_of(dataset: str) -> str | None:
    """"segmentation" or "pairs" when a run on ``dataset`` gets a Masks or Pairs tab (by the
    dataset's task: a model opened from a file gets it too); None otherwise."""
    try:
        task = data.task_of(dataset)
    except ValueError:
        return None
    return task if task in TASK_TABS else None


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def masks_caption(report: dict) -> str:
    """The words under the masks: the epoch's scores on the validation subset, per class and
    their mean, and what to know about NaN scores."""
    n = int(report["samples"])
    per = "; ".join(f"{name}: J {j:.2f}, D {d:.2f}"
                    for name, j, d in zip(report["class_names"], report["jaccard"], report["dice"]))
    text = (f"Epoch {report['epoch']}, on {_plural(n, 'validation image', 'validation images')}: "
            f"mean Jaccard {report['mean_jaccard']:.3f}, mean Dice {report['mean_dice']:.3f} ({per}). "
            "Dice = 2|A∩B| / (|A|+|B|): the book prints it without the 2, which would cap it at 0.5.")
    if n == 1:
        text += " One image is a small sample: its scores change a lot from epoch to epoch."
    return text + nonfinite_note(report, "mask scores", "those pixels take the class of their finite "
                                 "scores (class 0 when none is)")


def pairs_caption(report: dict) -> str:
    n = int(report["samples"])
    acc = report["accuracy"]
    acc_text = "no pairs" if not math.isfinite(acc) else f"{acc:.1%} classified right"
    return (f"Epoch {report['epoch']}, on {_plural(n, 'validation pair', 'validation pairs')}: {acc_text} "
            f"— a distance below {report['threshold']:g} says “same digit”, above it “different” "
            "(the book's rule)." + nonfinite_note(report, "distances", "such a pair counts as wrong"))


def nonfinite_note(report: dict, what: str, consequence: str) -> str:
    bad = int(report.get("nonfinite") or 0)
    if not bad:
        return ""
    total = int(report.get("values") or report.get("samples") or bad)
    return (f" {bad:,} of the model's {total:,} {what} are NaN or infinite ({consequence}); "
            "the run goes on — lower the learning rate if this stays.")


def pair_label(distance: float, same: bool, threshold: float) -> str:
    """The line under a shown pair: its distance, what the book's rule says of it and whether
    that is right (✓/✗)."""
    if not math.isfinite(distance):
        return "d = NaN ✗\nsays nothing"
    said_same = distance < threshold
    mark = "✓" if said_same == same else "✗"
    return f"d = {distance:.2f} {mark}\nsays {'same' if said_same else 'different'}"


class TaskViewRecord:
    """A run's Masks or Pairs tab: the latest whole epoch's report and one value per epoch
    (mean Jaccard and Dice, or the pair accuracy). Reports only come for whole epochs, so a run
    stopped in the middle of one keeps the last complete values."""

    def __init__(self) -> None:
        self.reset(None)

    def reset(self, task: str | None) -> None:
        self.task = task
        self.latest: dict | None = None
        self.epochs: list[int] = []
        self.values: dict[str, list[float]] = {}

    def take(self, report: dict) -> None:
        self.task = report["task"]
        self.latest = report
        epoch = int(report["epoch"])
        if epoch in self.epochs:  # an epoch trained again after a stop: its value is replaced
            i = self.epochs.index(epoch)
            del self.epochs[i:]
            for key in self.values:
                del self.values[key][i:]
        self.epochs.append(epoch)
        if report["task"] == "segmentation":
            points = {"mean Jaccard": report["mean_jaccard"], "mean Dice": report["mean_dice"]}
        else:
            points = {"pair accuracy": report["accuracy"]}
        for key, value in points.items():
            self.values.setdefault(key, []).append(float(value))

    def caption(self) -> str:
        if self.latest is None:
            return TASK_WAITING.get(self.task or "", "")
        return masks_caption(self.latest) if self.task == "segmentation" else pairs_caption(self.latest)


# --- the model summary (Listing 2.2), in words --------------------------------------------------


def summary_heading(model: str, functional: bool) -> str:
    s = zoo.spec(model)
    variant = " (functional)" if functional else ""
    return f"<b>{s.title}</b>{variant} — as <code>model.summary()</code> prints it (Listing 2.2)"


def summary_cells(rows: list) -> list[list[str]]:
    """The table's cells: "name (type)", output shape, parameters with thousands separators."""
    return [[f"{layer} ({kind})", shape, f"{params:,}"] for layer, kind, shape, params in rows]


def summary_formulas(arith: list | None, count: int) -> list[tuple[str, str]]:
    """Per summary row: the parameter formula filled in ("3·3·1·32 + 32") and a tooltip with the
    layer's arithmetic (receptive field, output size, parameters); empty for layers without."""
    from cnnviz.core.layer_arith import explain, params_formula

    arith = list(arith or []) + [None] * count
    out = []
    for a in arith[:count]:
        formula = params_formula(a) if a else None
        out.append(("" if formula is None else formula[1], "\n".join(explain(a))))
    return out


def summary_formula_lines(rows: list, arith: list | None) -> list[str]:
    """Under the totals: where each layer's count comes from ("conv2d: 3·3·1·32 + 32 = 320"),
    for the layers with weights that have a formula."""
    lines = []
    for (layer, _kind, _shape, params), (formula, _tip) in zip(rows, summary_formulas(arith, len(rows))):
        if formula:
            lines.append(f"{layer}: {formula} = {params:,}")
    return lines


def summary_totals(model: str, totals: tuple[int, int, int]) -> str:
    """The totals under the table (rich text), compared with the count the book prints."""
    s = zoo.spec(model)
    total, trainable, frozen = totals
    text = (f"Total params: <b>{total:,}</b><br>Trainable params: {trainable:,}<br>"
            f"Non-trainable params: {frozen:,}")
    if s.book_params:
        mark = "✓ as in the book" if s.book_params == total else f"the book prints {s.book_params:,}"
        text += f"<br><span style='color:#188038'>{mark}</span>" if s.book_params == total else f"<br>{mark}"
    if s.task == "classification":
        text += (f"<br><span style='color:#5f6368'>Built for {s.num_classes} classes; the last layer "
                 f"follows the dataset's classes.</span>")
    return text


def preview_caption(preview: dict) -> str:
    flip = "flip" if preview["flip"] else "no flip (a mirrored digit is another symbol)"
    return (f"Top row: {preview['dataset']} samples. Below: random changes as training sees them "
            f"(Listing 4.4): rotation ±30°, shift ±25 %, shear 0.2, zoom ±30 %, {flip}.")
