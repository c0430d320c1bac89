"""The catalog the alert tests share, on each backend in turn."""

from __future__ import annotations

import pytest
from catalog_support import catalog_url  # noqa: F401  (fixture)

from db.engine import open_catalog


@pytest.fixture
def catalog(catalog_url):  # noqa: F811  (the fixture)
    catalog = open_catalog(catalog_url)
    yield catalog
    catalog.close()
