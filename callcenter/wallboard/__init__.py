"""The wallboard feature: the supervisors' large-screen board, operators' pauses, queue statistics."""
