"""topolearn.results."""
