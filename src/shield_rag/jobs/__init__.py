"""Jobs: state, progress events and the work queue, all kept in Redis."""
