"""Options that only some values of another option use: ``untangle measure``'s pattern
options (THEORY.md section 6) and spectrum options (section 1), and ``untangle train``'s
relevant-set options (section 7). Given with a value that does
not use them, they are refused, never ignored: by the command for its one run, by a sweep
when no point of it uses them (:mod:`verify.sweeps.spec`)."""

#: The ``pattern`` value of relevancy screening run online (THEORY.md sections 6 and 7): not a
#: pattern given in advance (:func:`verify.measurement.runs.network` takes None for it).
RELEVANCY = "relevancy"


def learned_attention(pattern: str, learned: bool) -> bool:
    """Whether a run's attention is learned: ``--learned``, or relevancy screening (whose
    attention is learned additive attention, THEORY.md section 7)."""
    return learned or pattern == RELEVANCY


#: option -> the ``--pattern`` kinds that use it
PATTERN_USES = {"width": ("window", "events", RELEVANCY), "stride": ("strided",),
                "kappa": ("sparse",), "events": ("events",), "rho": (RELEVANCY,),
                "score": (RELEVANCY,)}
#: option -> the ``--spectrum`` kinds that use it
SPECTRUM_USES = {"scale": ("identity", "orthogonal", "singular", "eigen", "nonneg"),
                 "gain": ("gaussian",), "sigma": ("singular",), "eigenvalues": ("eigen",),
                 "nonnormal": ("eigen",)}
#: options that only learned attention uses (a fixed pattern attends the states it names)
LEARNED_OPTIONS = ("include_h0",)
#: ``untangle train``'s options that only the screened models (a buffer and a relevant set,
#: :data:`verify.models.zoo.SCREENED`) use
SCREENED_OPTIONS = ("nu", "rho", "score")
