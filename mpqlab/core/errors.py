"""mpqlab's own error type: every bad input is reported as an :class:`MpqlabError` naming the bad thing."""


class MpqlabError(ValueError):
    """A user-facing error: bad argument, bad file, missing data. The CLI prints it on one line, exit code 2."""


class DivergedError(MpqlabError):
    """A loss became NaN or infinite; the run stopped and kept its last good checkpoint."""
