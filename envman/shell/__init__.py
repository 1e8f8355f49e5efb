"""Shells: activation in each, the rc-file code, `envman shell`, and the stdlib-only fast paths."""
