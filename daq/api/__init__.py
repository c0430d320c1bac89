"""The REST API (FastAPI): jobs, rigs, samples and takes, datasets, tokens, health, metrics.

:func:`daq.api.app.create_app` builds the app; ``jxdaq serve`` runs it under uvicorn. Routers
(one per resource) depend on :mod:`daq.api.deps` for the catalog, the audio store and the
caller's role; everything under ``/api/v1`` needs a bearer token.
"""
