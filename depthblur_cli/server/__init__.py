"""``depthblur serve``: a local HTTP server speaking the cloud APIs' request and response shapes.

:mod:`~depthblur_cli.server.app` builds the FastAPI application. FastAPI and
uvicorn come with the ``serve`` extra (``pip install 'depthblur[serve]'``).
"""
