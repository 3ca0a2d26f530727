"""One module per CLI subcommand (see trainlab/cli.py)."""
