"""The example test of deploy/: a visitor of the built-in target (`tswarm target`), which the compose
file and the Kubernetes manifests start beside tswarm. Replace it with your own test file: see
docs/deploy.md. The Kubernetes ConfigMap (k8s/common/locustfile-configmap.yaml) holds a copy.
"""

import random

from tswarm import FastHttpUser, between, task


class Visitor(FastHttpUser):
    wait_time = between(0.5, 1.5)

    @task(5)
    def home(self):
        self.client.get("/")

    @task(3)
    def item(self):
        self.client.get(f"/items/{random.randint(1, 1000)}", name="/items/[id]")

    @task(1)
    def api(self):
        self.client.get("/json")
