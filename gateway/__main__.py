"""``python -m gateway [--host H] [--port P] [--log-level L]``: the gateway under uvicorn (see :mod:`gateway.server`)."""

from gateway.server import main

main()
