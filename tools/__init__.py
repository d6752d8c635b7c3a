"""Developer tools of the collection's repository (not shipped in the Galaxy artifact)."""
