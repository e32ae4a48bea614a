"""The side that runs users (gevent): users, tasks, wait times, local and worker runners; may import clients, protocol, stats, ramp."""
