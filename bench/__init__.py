"""Benchmarks of the toolkit against its goals and against doing the same work by hand."""
