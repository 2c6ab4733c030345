"""topolearn.store."""
