"""The `kappa` console script: the CLI, where a Ctrl-C while it loads (Beam takes seconds to import)
ends as one line and exit status 130, as at any other time."""
import sys

from kappa.runners import interrupt


def main() -> int:
    try:
        from kappa.runners import cli
    except KeyboardInterrupt:
        return interrupt.report()
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
