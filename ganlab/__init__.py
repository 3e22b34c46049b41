"""ganlab."""
