"""Finding and checking Python interpreters, and reading what an environment holds."""
