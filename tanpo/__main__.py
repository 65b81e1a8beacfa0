"""`python -m tanpo` runs the `tanpo` command line."""

from tanpo.cli import main

main()
