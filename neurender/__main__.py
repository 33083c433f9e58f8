"""``python -m neurender``: the command line (what torchrun launches as ``-m neurender train ...``)."""
import sys

from neurender.commands.cli import main

sys.exit(main())
