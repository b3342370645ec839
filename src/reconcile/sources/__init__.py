"""Sources fetch a revision of the declared state: Git (several backends) and local directories."""
