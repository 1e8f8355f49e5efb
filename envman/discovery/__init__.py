"""Every Python environment on the machine, whoever made it: `envman scan`.

`roots` says where to look and which tool keeps its environments where, `walk` finds
the directories that are environments without following a link or leaving a file
system, `classify` tells each one's tool, project and Python, and `scan` puts it
together with sizes and envman's registry. Nothing here writes or deletes: adopting
and deleting what was found is `envman.ops.found`'s.
"""
