"""Estimation: what is the subject (matte) and how far is everything (depth)."""
