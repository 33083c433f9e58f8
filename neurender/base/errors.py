"""The one exception type for bad user input: the CLI prints it as `error: ...` and exits 2."""


class InputError(Exception):
    """Bad input from the user (scene, options, files). The message is one line."""
