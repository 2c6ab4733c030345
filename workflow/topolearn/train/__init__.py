"""topolearn.train."""
