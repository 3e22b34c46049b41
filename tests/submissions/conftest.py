"""The notebooks here are broken on purpose: `make test` (nbval) must not collect them."""

collect_ignore_glob = ["*.ipynb"]
