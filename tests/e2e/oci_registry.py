"""A throw-away CNCF distribution registry (Debian package `docker-registry`) on loopback.

  DOCKER_REGISTRY_BIN   the registry binary (default: docker-registry on PATH, then /usr/bin/docker-registry)

Started as `docker-registry serve <config.yml>` with a generated config: filesystem storage in a
temporary directory, http on 127.0.0.1:<free port>, no auth, no debug server. Its log goes to
tests/e2e/.logs/registry.log. `.stop()` terminates it and removes the storage.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness

START_TIMEOUT = 30.0


def find_binary():
    env = os.environ.get("DOCKER_REGISTRY_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    path = shutil.which("docker-registry")
    if path:
        return path
    return "/usr/bin/docker-registry" if os.access("/usr/bin/docker-registry", os.X_OK) else None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: e2e-only-not-a-secret
"""


class RegistryStartError(RuntimeError):
    pass


class Registry:
    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="e2e-registry-")
        os.makedirs(harness.LOG_DIR, exist_ok=True)
        self.log_path = os.path.join(harness.LOG_DIR, "registry.log")
        self.proc = None
        last = None
        # The free port is picked, released, then bound by the registry: retry if someone took it.
        for _ in range(3):
            try:
                self._start()
                return
            except RegistryStartError as e:
                last = e
        self.stop()
        raise last

    def _start(self):
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.url = "http://" + self.address
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(CONFIG.format(root=os.path.join(self.dir, "storage"), port=self.port))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([self.binary, "serve", config], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RegistryStartError("docker-registry exited with %s:\n%s" % (self.proc.returncode,
                                                                                  harness.tail(self.log(), 30)))
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self._kill()
        raise RegistryStartError("docker-registry did not answer GET /v2/ within %.0fs:\n%s"
                                 % (START_TIMEOUT, harness.tail(self.log(), 30)))

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)
