"""The operator view in the terminal and its journal plumbing: run view, estimate, controls, pytest plugin part."""
