"""Allow ``python -m depthblur_cli``."""

from depthblur_cli.cli import main

if __name__ == "__main__":
    main()
