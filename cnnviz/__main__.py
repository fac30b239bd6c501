"""Command line: ``cnnviz [IMAGE] [--model FILE] [--session FILE] [--pane NAME] [--screenshot OUT.png]`` opens the
window; ``cnnviz train ...`` trains one of the book's models without a window."""

from __future__ import annotations

import argparse
import sys

from cnnviz import __version__
from cnnviz.gui.panes import pane_names


def _window_size(text: str) -> str:
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) >= 200 and int(height) >= 150):
        raise argparse.ArgumentTypeError(f"'{text}' is not a window size like 1400x900")
    return f"{int(width)}x{int(height)}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnviz",
        description="Explore convolutional neural networks visually. "
        "Run 'cnnviz train --help' to train a model without a window.",
    )
    parser.add_argument("image", nargs="?", help="image to open (default: a bundled sample)")
    parser.add_argument("--model", metavar="FILE", help="Keras model (.keras or .h5) to inspect")
    parser.add_argument("--pane", choices=pane_names(), help="pane to show first")
    parser.add_argument(
        "--session",
        metavar="FILE",
        help="open a saved session or lesson (.cnnviz): its image, settings and pane",
    )
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the chosen pane offscreen, write it as PNG and exit",
    )
    parser.add_argument(
        "--size",
        type=_window_size,
        default="1400x900",
        metavar="WxH",
        help="window size for --screenshot (default 1400x900)",
    )
    parser.add_argument(
        "--presentation", action="store_true", help="start in presentation mode (large text)"
    )
    parser.add_argument("--version", action="version", version=f"cnnviz {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        from cnnviz.ml.cli import main as train_main

        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    from cnnviz.gui.app import run

    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
