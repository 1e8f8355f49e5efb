"""What each command does, silently: the core that the command line calls and renders."""
