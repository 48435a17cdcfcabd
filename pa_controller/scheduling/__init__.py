"""The APScheduler engine: one process, dispatch jobs in memory derived from the Run rows, run in an app context."""
