"""One photo in, one result out: depth, matte and render composed, the output written."""
