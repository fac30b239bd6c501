"""The activations pane: a model's layers, feature maps, filters, prediction and Grad-CAM."""

from cnnviz.gui.panes.activations.pane import ActivationsPane, demo_models
from cnnviz.state.activations import choose_demo, default_scaling, looks_like_a_digit

__all__ = ["ActivationsPane", "choose_demo", "default_scaling", "demo_models", "looks_like_a_digit"]
