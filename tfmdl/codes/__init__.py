"""The codes, one package per family: prequential (block and online
learners), variational, two-part, switch, and tuned searches over them."""
