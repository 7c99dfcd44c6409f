"""Lambda's event source mappings: pollers that read a queue and invoke a function."""
