"""``python -m initlab``: the command line, exactly as the ``initlab`` console script runs it."""

from .cli import main_entry

if __name__ == "__main__":
    main_entry()
