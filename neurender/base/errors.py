"""The one exception type for bad user input: the CLI prints it as `error: ...` and exits 2."""


class InputError(ValueError):
    """Bad input from the user (scene, options, files, arrays). The message is one line; a ValueError, so
    Python callers may catch either."""
