"""Module intake (second life): plan steps, their procedures, grading and passport, as one package."""
