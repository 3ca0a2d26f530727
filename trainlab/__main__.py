"""`python -m trainlab ...` is the `trainlab` command (also what torchrun launches: `-m trainlab`)."""
import sys

from .cli import main

sys.exit(main())
