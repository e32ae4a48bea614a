"""The test `tswarm demo` runs against its built-in target server.

A shop-like mix: browsing (fast pages, a JSON API, item pages grouped under one name), a slower
search, a flaky endpoint that fails now and then, and a checkout flow as a SequentialTaskSet.
Run it yourself against the target with:

    tswarm target --port 8089 &
    tswarm run -f examples/demo.py -H http://127.0.0.1:8089 --headless -u 20 -r 10 -t 30s
"""

import random

from tswarm import FastHttpUser, SequentialTaskSet, between, tag, task


class Checkout(SequentialTaskSet):
    @task
    def view_cart(self):
        self.client.get("/json", name="/cart")

    @task
    def pay(self):
        with self.client.post(
            "/echo", json={"amount": random.randint(5, 500)}, name="/pay", catch_response=True
        ) as response:
            if response.status_code == 200 and b"amount" not in response.content:
                response.failure("payment was not echoed")

    @task
    def done(self):
        self.interrupt()


class Shopper(FastHttpUser):
    wait_time = between(0.05, 0.3)

    @tag("browse")
    @task(10)
    def home(self):
        self.client.get("/")

    @tag("browse")
    @task(6)
    def item(self):
        self.client.get(f"/items/{random.randint(1, 10_000)}", name="/items/[id]")

    @tag("browse")
    @task(4)
    def api(self):
        self.client.get("/json")

    @task(3)
    def search(self):
        self.client.get("/latency", name="/search")

    @task(2)
    def recommendations(self):
        self.client.get("/flaky", name="/recommendations")

    @task(1)
    def images(self):
        self.client.get(f"/bytes/{random.choice([1024, 16384, 65536])}", name="/images")

    tasks = {Checkout: 1}
