"""The fixtures the command tests share: a catalog URL on each backend in turn
(tests/support/catalog_support.py), a live server or local mode for the client commands
(tests/support/client_support.py) and the training ones (tests/support/training_support.py)."""

from catalog_support import catalog_url  # noqa: F401  (fixture)
from client_support import local, server, spec  # noqa: F401  (fixtures)
from training_support import _one_torch_thread, captured_dataset  # noqa: F401  (fixtures)
