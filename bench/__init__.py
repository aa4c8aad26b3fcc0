"""The side-by-side benchmark behind `make bench` (see run.py)."""
