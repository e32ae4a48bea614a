"""The side that runs users: gevent greenlets, tasks, wait times, the local and worker runners."""
