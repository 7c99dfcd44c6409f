"""The Lambda-like runtime: each function as a pool of warm worker processes that
scales out on demand up to ``MAX_WORKERS``, serves callers first come first served,
and retires idle workers, as Lambda's execution environments do.

The scale-out policy lives in ``workers.WorkerPool``. Nothing here knows about API
Gateway."""
