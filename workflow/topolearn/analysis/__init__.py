"""topolearn.analysis."""
