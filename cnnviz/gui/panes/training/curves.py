"""The curves a continued run starts with: its own (the same run goes on in its folder), or an
earlier run's drawn grey under the new run's (:func:`cnnviz.state.training.continue_plan`)."""

from __future__ import annotations

from pathlib import Path

from cnnviz.gui.panes.training.monitor import RunMonitor
from cnnviz.state import training as words

EARLIER = "earlier:"  # the series of an earlier run, drawn grey under the new run's
EARLIER_COLOR = "#b8bcc2"


def shown_batches(monitor: RunMonitor, plan, run_dir: Path | None) -> tuple[list, list] | None:
    """The per-batch curve on screen, when it belongs to the plan's run."""
    if plan is None or run_dir is None or plan.run.path.resolve() != run_dir.resolve():
        return None
    series = monitor.batch_plot.series("loss")
    return (list(series.x), list(series.y)) if len(series) else None


def drop_earlier_curves(monitor: RunMonitor) -> None:
    for plot in monitor.plots():
        names = plot.keys()
        for key in [k for k in names if k.startswith(EARLIER)]:
            plot.remove_series(key)


def carry_curves(m: RunMonitor, plan, shown) -> None:
    reports = words.earlier_epochs(plan.run, upto=plan.after_epoch)
    if plan.same_run:  # the same run goes on: its curves are this run's
        if shown is not None:
            m.batch_plot.extend("loss", [x for x in shown[0] if x <= plan.after_epoch],
                                shown[1][:sum(1 for x in shown[0] if x <= plan.after_epoch)])
        for info in reports:
            m.show_epoch(info)
        return
    reports = words.earlier_epochs(plan.run)
    if shown is not None:
        m.batch_plot.add_series(EARLIER + "loss", "earlier run", EARLIER_COLOR, width=1.5)
        m.batch_plot.extend(EARLIER + "loss", shown[0], shown[1])
    if not reports:
        return
    epochs = [r["epoch"] for r in reports]
    m.loss_plot.add_series(EARLIER + "loss", "earlier run", EARLIER_COLOR, symbol="o")
    m.loss_plot.extend(EARLIER + "loss", epochs, [r["loss"] for r in reports])
    if all(r["val_loss"] is not None for r in reports):
        m.loss_plot.add_series(EARLIER + "val_loss", None, EARLIER_COLOR, symbol="o", dashed=True)
        m.loss_plot.extend(EARLIER + "val_loss", epochs, [r["val_loss"] for r in reports])
    metric = next(iter(words.plotted_metrics(reports[0])), None)
    if metric is not None:
        m.metric_plot.add_series(EARLIER + metric, "earlier run", EARLIER_COLOR, symbol="o")
        m.metric_plot.extend(EARLIER + metric, epochs, [r["metrics"].get(metric, float("nan")) for r in reports])
    for plot in m.plots():
        plot.flush()
