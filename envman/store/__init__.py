"""The data root and what lives in it: the registry, markers, the build transaction, deletion."""
