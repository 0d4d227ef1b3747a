"""The one exception type for user-facing data problems.

Every message is a single line that names where the problem is (a file and line, a file, or a
config key) and how to fix it, so a user sees the cause instead of a stack trace from deep inside
a library. Catch `DataError` (a `ValueError`) to handle any of them.
"""


class DataError(ValueError):
    """A problem with the user's data, data config or tokenizer directory, with a fix-it message."""
