"""topolearn.learning_graphs."""
