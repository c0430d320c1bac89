"""Sub-command groups of the ``jxdaq`` CLI, one module per group."""
