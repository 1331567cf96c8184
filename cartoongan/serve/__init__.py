"""A local web app and HTTP API over the Cartoonizer.

`app.create_app` builds the ASGI application (routes, limits, the inference queue);
`server` chooses and loads the styles and runs the app under uvicorn, with `protocol`'s
header deadline and JSON refusals (`cartoongan.cli.serve` parses the flags). Imports nothing heavy here, so `cartoongan.serve.uploads` and `.queue`
stay usable without the web stack.
"""
