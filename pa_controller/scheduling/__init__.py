"""The APScheduler engine: one process, jobs that take ids, run inside an app context."""
