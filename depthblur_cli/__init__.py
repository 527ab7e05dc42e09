"""depthblur: put a photo's background out of focus the way a fast lens would.

Local, offline equivalents of Photoshop's Depth Blur, Photoroom's background
blur (bokeh / gaussian) and rembg-style background blur, in one CLI.
"""

__version__ = "0.1.0"
