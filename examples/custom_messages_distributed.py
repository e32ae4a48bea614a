"""Custom messages where the master sends and the workers acknowledge.

    tswarm master -f examples/custom_messages_distributed.py --headless --expect-workers 2 -u 4 -t 10s -H URL
    tswarm worker -f examples/custom_messages_distributed.py   # twice

When the test starts, the master hands each worker its own slice of test accounts; each worker
prints what it got and sends an acknowledgement back, which the master prints. A message may have any
name, "ack" included: custom messages travel apart from tswarm's own (docs/protocol.md).
"""

from locust import HttpUser, between, events, task
from locust.runners import MasterRunner, WorkerRunner

ACCOUNTS = [{"name": f"account-{i}"} for i in range(6)]


def on_accounts(environment, msg, **_kwargs):
    # runs on a worker
    names = [account["name"] for account in msg.data]
    print(f"worker {environment.runner.worker_index} got {len(names)} accounts: {', '.join(names)}")
    environment.runner.send_message("ack", {"count": len(names), "index": environment.runner.worker_index})


def on_ack(environment, msg, **_kwargs):
    # runs on the master
    print(f"worker {msg.data['index']} ({msg.node_id}) acknowledged {msg.data['count']} accounts")


@events.init.add_listener
def on_init(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("accounts", on_accounts)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("ack", on_ack)


@events.test_start.add_listener
def on_test_start(environment, **_kwargs):
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        workers = sorted(runner.workers.values(), key=lambda w: w.index)
        for position, worker in enumerate(workers):
            runner.send_message("accounts", ACCOUNTS[position :: len(workers)], client_id=worker.node_id)


class WebsiteUser(HttpUser):
    wait_time = between(0.5, 1)

    @task
    def index(self):
        self.client.get("/")
