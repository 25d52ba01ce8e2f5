"""Models with controlled spectra and attention (THEORY.md sections 1, 6 and 7): cells and
memories composed by one time loop (:mod:`verify.models.rollout`), and every model of the
toolkit built from them (:mod:`verify.models.zoo`)."""

from verify.models.cells import LSTMCell, VanillaCell
from verify.models.memories import FixedPattern, LearnedAttention, NoMemory, RelevantSet
from verify.models.nonlin import Nonlinearity
from verify.models.rollout import Recurrent, RecurrentModel, Rollout, Trace
from verify.models.spectra import build_spectrum
from verify.models.zoo import MODELS, SCREENED, Classifier, build, controlled, vanilla

__all__ = [
    "MODELS",
    "SCREENED",
    "Classifier",
    "FixedPattern",
    "LSTMCell",
    "LearnedAttention",
    "NoMemory",
    "Nonlinearity",
    "Recurrent",
    "RecurrentModel",
    "RelevantSet",
    "Rollout",
    "Trace",
    "VanillaCell",
    "build",
    "build_spectrum",
    "controlled",
    "vanilla",
]
