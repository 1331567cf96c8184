"""Training data: edge smoothing, sharded TFRecords and the tf.data pipeline."""

from cartoongan.data.edge_smoothing import edge_smooth

__all__ = ["edge_smooth"]
