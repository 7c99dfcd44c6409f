"""The local AI upstream: an OpenAI-compatible streaming endpoint with a deterministic
answer, pace and failure scenarios, for ``make run`` and the tests."""
