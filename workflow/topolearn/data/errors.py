"""The data package's errors: each message names the file or setting and what to do about it."""


class DataError(RuntimeError):
    """A dataset that is missing, damaged or not what its name promises; the message says what to do."""


class DatasetSpecError(DataError):
    """A declared dataset whose files are missing or unusable; the message names the file and the fix."""
