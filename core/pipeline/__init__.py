"""A run's work: import sources, build the project database and changes, export, tasks.

The package imports nothing itself, so that its modules (`hashing`, `changes`…) can be used
by `core` modules that `execution` in turn depends on; import `core.pipeline.execution`.
"""
