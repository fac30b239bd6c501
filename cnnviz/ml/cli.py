"""``cnnviz train``: the training engine without a window, printing progress.

Example::

    cnnviz train --model mnist_fast --dataset digits --epochs 3 --out runs/first
    cnnviz train --model small_cnn --dataset folder --folder photos --cache /tmp/photos-cache
    cnnviz train --strategy mirrored --cpu-replicas 2 --batch-size 64   # data parallel on a CPU

An image folder is read while training (tf.data), never loaded whole. ``--strategy`` chooses
data parallelism (tf.distribute.MirroredStrategy; ``auto`` = mirrored with several GPUs);
``--cpu-replicas N`` splits the CPU into N logical devices, which TensorFlow allows only before it
starts, so it is done first thing in this process.

Exit codes: 0 finished, 1 stopped (Ctrl-C), 2 bad arguments or a run that could not start or
failed, 3 the loss became NaN.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_STOPPED, EXIT_FAILED, EXIT_NAN = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    from cnnviz.ml import datasets, distribute, zoo  # no Keras at module level

    p = argparse.ArgumentParser(
        prog="cnnviz train",
        description="Train one of the book's models without a window; checkpoints, a CSV log "
        "and the final model go to the output folder.",
    )
    p.add_argument("--model", default=zoo.DEFAULT, choices=zoo.NAMES, help="default: %(default)s")
    p.add_argument("--dataset", choices=datasets.NAMES,
                   help="default: the model's usual dataset (digits for the MNIST models)")
    p.add_argument("--folder", type=Path, help="image folder (one subfolder per class) for --dataset folder")
    p.add_argument("--cache", type=Path,
                   help="--dataset folder: keep the decoded images in this folder for later epochs and runs")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", "--learning-rate", dest="lr", type=float, help="default: the book's value")
    p.add_argument("--optimizer", choices=zoo.OPTIMIZERS, help="default: the book's choice")
    p.add_argument("--validation-split", type=float, default=0.1)
    p.add_argument("--augment", action="store_true", help="Listing 4.4's random rotations, shifts, shears, zooms, flips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reduce-lr", action="store_true", help="ReduceLROnPlateau (Listing 2.5)")
    p.add_argument("--out", type=Path, help="run folder (default: a new folder under ./cnnviz-runs)")
    p.add_argument("--h5", action="store_true", help="also write .h5 checkpoints")
    p.add_argument("--max-samples", type=int, help="train on at most this many samples")
    p.add_argument("--resume", type=Path, help="continue from this .keras checkpoint")
    p.add_argument("--functional", action="store_true", help="small_cnn: the functional build (Listing 5.2)")
    p.add_argument("--strategy", choices=distribute.STRATEGIES, default="auto",
                   help="data parallelism: mirrored = tf.distribute.MirroredStrategy over the GPUs "
                   "(or the CPU replicas); auto = mirrored when more than one GPU is visible "
                   "(default: %(default)s)")
    p.add_argument("--cpu-replicas", type=int, default=1, metavar="N",
                   help="split the CPU into N logical devices, to try data parallelism without "
                   "GPUs (default: %(default)s = no split)")
    p.add_argument("--allow-download", action="store_true",
                   help="let keras.datasets download MNIST/Fashion-MNIST/CIFAR-10 if not cached")
    p.add_argument("--list", action="store_true", help="list the models and datasets and exit")
    return p


class _Printer:
    """Progress lines at most every ``interval`` seconds, and one line per epoch."""

    def __init__(self, out: TextIO, interval: float = 2.0) -> None:
        self.out, self.interval = out, interval
        self.stop_event = threading.Event()
        self._last = 0.0

    def on_message(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def on_batch(self, info: dict) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and info["batch"] != 1:
            return
        self._last = now
        eta = info["eta_s"]
        print(
            f"  epoch {info['epoch']}/{info['epochs']} batch {info['batch']}/{info['batches']}"
            f"  loss {info['loss']:.4f}{_metrics(info['metrics'])}"
            + (f"  {info['samples_per_s']:.0f} samples/s" if info["samples_per_s"] else "  … samples/s")
            + (f"  eta {eta:.0f}s" if eta is not None else ""),
            file=self.out, flush=True,
        )

    def on_epoch(self, info: dict) -> None:
        val = f"  val_loss {info['val_loss']:.4f}" if info["val_loss"] is not None else ""
        note = " (partial)" if info["partial"] else ""
        print(
            f"epoch {info['epoch']}/{info['epochs']}{note}: loss {info['loss']:.4f}{val}"
            f"{_metrics(info['metrics'])}  lr {info['lr']:.3g}  {info['epoch_time_s']:.1f}s"
            + (f"  -> {info['checkpoint']}" if info["checkpoint"] else ""),
            file=self.out, flush=True,
        )


def _metrics(metrics: dict) -> str:
    return "".join(f"  {k} {v:.4f}" for k, v in metrics.items() if k != "learning_rate")


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``cnnviz train`` with ``argv`` (without the word ``train``); return the exit code."""
    out = out or sys.stdout
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help or a usage error; argparse has printed why
        return int(exc.code or 0)

    from cnnviz.ml import datasets, zoo

    if args.list:
        print("Models:", file=out)
        for name in zoo.NAMES:
            print(f"  {name:14s} {zoo.describe(name)}  [datasets: {', '.join(datasets.compatible(name))}]", file=out)
        print("Datasets:", file=out)
        for name in datasets.NAMES:
            print(f"  {name:14s} {datasets.describe(name)}", file=out)
        return EXIT_OK

    if args.dataset == "folder" and args.folder is None:
        print("--dataset folder needs --folder PATH (one subfolder per class)", file=sys.stderr)
        return EXIT_FAILED

    from cnnviz.ml import distribute

    if args.cpu_replicas > 1:
        # Before anything else starts TensorFlow's devices; settings that cannot work are left
        # for the run to explain.
        try:
            distribute.check(args.strategy, args.cpu_replicas, args.batch_size)
        except ValueError:
            pass
        else:
            distribute.configure_cpu_replicas(args.cpu_replicas)

    from cnnviz.ml import training

    options: dict = {}
    if args.folder is not None:
        options["path"] = args.folder
    if args.cache is not None:
        options["cache"] = args.cache
    if args.allow_download:
        options["allow_download"] = True
    out_dir = args.out or training.new_run_dir(Path.cwd() / "cnnviz-runs", args.model)
    config = training.TrainConfig(
        model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, optimizer=args.optimizer, validation_split=args.validation_split,
        augment=args.augment, seed=args.seed, reduce_lr_on_plateau=args.reduce_lr, out_dir=out_dir,
        save_h5=args.h5, resume_from=args.resume, max_samples=args.max_samples,
        functional=args.functional, dataset_options=options, strategy=args.strategy,
        cpu_replicas=args.cpu_replicas,
    )
    printer = _Printer(out)

    previous = None
    if threading.current_thread() is threading.main_thread():
        def _interrupt(signum, frame):  # first Ctrl-C: stop after this batch; second: abort
            if printer.stop_event.is_set():
                raise KeyboardInterrupt
            print("Stopping after the current batch (Ctrl-C again to abort)...", file=out, flush=True)
            printer.stop_event.set()

        previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        result = training.run(config, printer)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    print(f"\n{result.status.upper()}: {result.message}", file=out)
    if result.run_dir is not None and result.status != "failed":
        print(f"run folder: {result.run_dir}", file=out)
        print(f"device: {result.device}; {result.elapsed_s:.1f}s; {result.samples_per_s:.0f} samples/s", file=out)
        print(f"strategy: {result.strategy}, {result.replicas} replica(s); global batch "
              f"{result.global_batch_size}, {result.per_replica_batch_size} per replica", file=out)
        last = {k: v[-1] for k, v in result.history.items() if v}
        if last:
            print("last epoch: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()), file=out)
    out.flush()
    return {"finished": EXIT_OK, "stopped": EXIT_STOPPED, "nan": EXIT_NAN}.get(result.status, EXIT_FAILED)


if __name__ == "__main__":
    raise SystemExit(main())
