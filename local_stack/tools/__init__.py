"""The command-line tools for a running stack: ``make chat``, ``make token``,
``make invoke`` and ``make smoke``. They find the local stack through
``.local/stack.json`` (``local_stack.state``) and talk to it as any client would."""
