"""A local web app and HTTP API over the Cartoonizer.

`app.create_app` builds the ASGI application (routes, limits, the inference queue);
`cartoongan.cli.serve` loads the styles and runs it under uvicorn. Imports nothing heavy
here, so `cartoongan.serve.uploads` and `.queue` stay usable without the web stack.
"""
