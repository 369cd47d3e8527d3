"""Several servers as one (``--cluster``): rooms, names and presence shared through Redis (docs/cluster.md)."""
