"""edgekit.train."""
