"""Training: one loop for every claim, optimizers by name, penalties, history."""

from .history import History
from .loop import evaluate, fit
from .noise import AdditiveDataNoise, LearningRateNoise, WeightNoise
from .optimizers import KERAS_DEFAULTS, make_optimizer
from .regularizers import l1_penalty, l2_penalty

__all__ = [
    "AdditiveDataNoise", "History", "LearningRateNoise", "WeightNoise", "KERAS_DEFAULTS", "evaluate", "fit", "l1_penalty", "l2_penalty", "make_optimizer"]
