"""Did-you-mean hints for misspelt keys and choices.

One rule for every error that names a wrong word: the closest valid one, or
the list of valid ones. It stands at the bottom of the package so channels,
the config layer and the command line all give the same hint.
"""

from ._typing import Iterable

__all__ = ()


def suggest(word: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or ``"; expected one of: ..."``.

    >>> suggest("chanels", ["channels", "throttle"])
    "; did you mean 'channels'?"
    """
    import difflib  # only when a word is wrong: building a channel does not pay for it

    choices = sorted(valid)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; expected one of: " + (", ".join(choices) if choices else "(none)")
