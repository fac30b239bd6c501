"""The training pane's side of the engine: the CPU split TensorFlow starts with (it splits the
processor into logical CPUs only when it starts, so a changed split restarts the engine), and
what is left of a run whose engine died."""

from __future__ import annotations

import os
from pathlib import Path

from cnnviz.ml import distribute  # TensorFlow only inside its functions (run in the engine)
from cnnviz.ml.training_jobs import TrainOutcome
from cnnviz.state.training import read_run


def split_env(split: int) -> dict[str, str | None]:
    """The engine's environment for ``split`` logical CPUs (None removes the variable)."""
    return {distribute.CPU_REPLICAS_ENV: str(split) if split > 1 else None}


def engine_split(env_overrides: dict[str, str | None]) -> int:
    """The logical CPUs an engine started with ``env_overrides`` splits the processor into."""
    env = dict(os.environ)
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return distribute.cpu_replicas_from_env(env)


def crashed_outcome(run_dir: Path, text: str) -> TrainOutcome:
    """TensorFlow died while the run trained: its run.json says "crashed" and its last
    checkpoint is what is left to continue from."""
    from cnnviz.ml import training  # run folders and run.json only: no TensorFlow here

    training.mark_interrupted(run_dir, text, status="crashed")
    run = read_run(run_dir)
    return TrainOutcome("crashed", text, run_dir=run_dir if run_dir.is_dir() else None,
                        last_good_checkpoint=run.last_good_checkpoint)
