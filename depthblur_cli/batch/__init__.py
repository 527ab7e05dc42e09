"""Batches: output plans, the loop over inputs, its engines (serial, process pool, Ray) and the records it reports."""
