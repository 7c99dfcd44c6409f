"""``python -m local_stack`` (``make run``): the local stack in the foreground."""

import sys

from local_stack.stack import main

if __name__ == "__main__":
    sys.exit(main())
