"""Training: a custom Keras loop under a ``tf.distribute`` strategy."""

from tfmdl.training.determinism import make_deterministic
from tfmdl.training.determinism import resumable_random_state
from tfmdl.training.determinism import seed_everything
from tfmdl.training.loop import EpochLog
from tfmdl.training.loop import make_forward
from tfmdl.training.loop import per_sample_nll_nats
from tfmdl.training.loop import predict_log_probs
from tfmdl.training.loop import predict_stream_log_probs
from tfmdl.training.loop import train
from tfmdl.training.loop import train_on_stream
from tfmdl.training.loop import TrainConfig
from tfmdl.training.loop import TrainResult
from tfmdl.training.strategy import get_strategy
from tfmdl.training.strategy import STRATEGY_NAMES

__all__ = [
    "EpochLog", "STRATEGY_NAMES", "TrainConfig", "TrainResult",
    "get_strategy", "make_deterministic", "make_forward",
    "per_sample_nll_nats", "predict_log_probs", "predict_stream_log_probs",
    "resumable_random_state", "seed_everything", "train", "train_on_stream",
]
