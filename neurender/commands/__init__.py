"""The command line on top of everything: the command table, flags from option dataclasses, and one
module per group of commands (data, learn, evaluate, demo, bench). Nothing imports it."""
