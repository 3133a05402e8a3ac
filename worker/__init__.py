"""The worker process: the Dramatiq broker set-up, actors and middleware."""
