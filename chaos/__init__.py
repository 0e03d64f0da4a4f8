"""``make chaos``: the checkout under a fault schedule from a seed, judged by its invariants and goodput."""
