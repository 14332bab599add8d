"""Training: one loop for every claim (and a batched one for K models), optimizers by name, penalties, history."""

from .augment import RandomAffine
from .batched import fit_many
from .history import History
from .loop import evaluate, fit
from .noise import AdditiveDataNoise, LearningRateNoise, WeightNoise
from .optimizers import KERAS_DEFAULTS, make_optimizer
from .regularizers import L1Penalty, L2Penalty, PenaltyRecorder, l1_penalty, l2_penalty

__all__ = [
    "AdditiveDataNoise",
    "History",
    "KERAS_DEFAULTS",
    "L1Penalty",
    "L2Penalty",
    "LearningRateNoise",
    "PenaltyRecorder",
    "RandomAffine",
    "WeightNoise",
    "evaluate",
    "fit",
    "fit_many",
    "l1_penalty",
    "l2_penalty",
    "make_optimizer",
]
