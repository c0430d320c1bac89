"""One router per resource; :func:`daq.api.app.create_app` mounts them under ``/api/v1``."""
