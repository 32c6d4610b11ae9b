"""Allow ``python -m vivr_provision`` (used by tests to run the real CLI in a subprocess)."""

from vivr_provision.cli import main

if __name__ == "__main__":
    main()
