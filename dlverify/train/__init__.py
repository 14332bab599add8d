"""Training: one loop for every claim, optimizers by name, penalties, history."""

from .augment import RandomAffine
from .history import History
from .loop import evaluate, fit
from .noise import AdditiveDataNoise, LearningRateNoise, WeightNoise
from .optimizers import KERAS_DEFAULTS, make_optimizer
from .regularizers import l1_penalty, l2_penalty

__all__ = [
    "AdditiveDataNoise", "History", "KERAS_DEFAULTS", "LearningRateNoise", "RandomAffine", "WeightNoise",
    "evaluate", "fit", "l1_penalty", "l2_penalty", "make_optimizer",
]
