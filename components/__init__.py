"""ComponentResources of the swarm stack; see ../shared architecture notes in README."""
