"""The one exception type for user-facing evaluation problems.

Each message is one line naming the file, flag or key at fault and the fix, so the command line
can print it instead of a stack trace.
"""


class EvalError(ValueError):
    """A problem with the user's evaluation input (data folder, sample file, flag), with a fix."""
