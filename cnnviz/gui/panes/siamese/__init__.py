"""The Siamese pane (chapter 5): pair distances, the embedding map, contrastive and triplet loss."""

from cnnviz.gui.panes.siamese.pane import SiamesePane

__all__ = ["SiamesePane"]
