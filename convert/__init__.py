"""edgekit.convert."""
