"""Training that consumes the catalog: datasets, features, networks, evaluation."""
