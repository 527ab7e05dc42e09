"""Rendering core: aperture kernels and the layered depth-of-field renderer."""
