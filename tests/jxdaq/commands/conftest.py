"""The fixtures the command tests share: a catalog URL on each backend in turn
(tests/support/catalog_support.py) and the training ones (tests/support/training_support.py)."""

from catalog_support import catalog_url  # noqa: F401  (fixture)
from training_support import _one_torch_thread, captured_dataset  # noqa: F401  (fixtures)
