"""The API Gateway emulation: one aiohttp server that is the WebSocket API as
template.yaml declares it (handshake and authorizer, route selection, API Gateway's
own frames, limits and timeouts), its ``@connections`` management API, the Lambda
Invoke API the chat function calls itself through, and the browser console's files.

Change it to match how API Gateway behaves (``../shared/reference`` and
docs/local-stack.md list what it reproduces); it invokes functions only through the
``Invoke`` callable it is given, never knowing how they run."""
