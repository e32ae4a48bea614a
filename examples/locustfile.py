"""A plain Locust test file: tswarm runs it unchanged (`tswarm run -f examples/locustfile.py ...`)."""

from locust import HttpUser, between, task


class WebsiteUser(HttpUser):
    wait_time = between(0.1, 0.5)

    @task(3)
    def index(self):
        self.client.get("/")

    @task
    def item(self):
        for item_id in range(3):
            self.client.get(f"/items/{item_id}", name="/items/[id]")
