"""Paper figures; each module draws one kind of figure from the pipeline's tables."""
