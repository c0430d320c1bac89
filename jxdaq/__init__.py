"""The ``jxdaq`` command line: the composition root, the one package that may import from every
other (firmware_protocol, db, daq, models); nothing imports from it (see the import-linter
contracts in pyproject.toml)."""
