"""Static readers that turn an engine's argument definitions into a flag catalog."""
