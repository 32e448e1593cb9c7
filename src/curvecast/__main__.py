"""``python -m curvecast``: the ``curvecast`` command."""

from curvecast.cli import main

if __name__ == "__main__":
    main()
