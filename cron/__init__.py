"""The ticker: one leader at a time finds due jobs and enqueues their runs."""
