"""Domain logic shared by the web, worker and cron processes (no Flask, no Dramatiq)."""
