"""The one exception type for mistakes a user can fix (bad path, bad option, bad file).

The CLI prints its message as one line and exits with status 2; anything else is a bug and keeps its
traceback.
"""


class I2IError(Exception):
    """A user-fixable problem; the message names the file or option and what is wrong."""
