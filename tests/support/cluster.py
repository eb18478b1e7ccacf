"""Several ``nexus-tornado`` processes on one MongoDB database, as in production behind
nginx (see support/nginx.py): each on a free loopback port, one JWT secret."""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path
from typing import Any, List, Optional

import pytest

from .command import CommandServer
from .mongo import MONGO_URI_ENV, NxServer
from .nexus import make_token


def cluster_mongo(request: pytest.FixtureRequest, kind: str) -> str:
    """The URI of the MongoDB a cluster test runs on: the session's nx-27017, or the
    real one of NEXUS_TEST_MONGO_URI (skips without it)."""
    if kind == "mongodb":
        uri = os.environ.get(MONGO_URI_ENV, "")
        if not uri:
            pytest.skip("%s is not set: no real MongoDB to test against" % MONGO_URI_ENV)
        return uri
    nx: NxServer = request.getfixturevalue("nx_server")
    return nx.uri


class Cluster:
    """``count`` processes sharing a database of their own (dropped afterwards)."""

    def __init__(self, directory: Path, mongo_uri: str, count: int, extra_args: Optional[List[str]] = None) -> None:
        self.mongo_uri = mongo_uri
        self.database = "cluster_" + uuid.uuid4().hex[:10]
        self.secret = secrets.token_hex(32)
        self.servers: List[CommandServer] = []
        for index in range(count):
            path = directory / ("process%d" % index)
            path.mkdir(parents=True, exist_ok=True)
            server = CommandServer(
                path,
                ["--no-demo", "--mongo-uri", mongo_uri, "--mongo-database", self.database,
                 "--sends-per-minute", "100000"] + list(extra_args or []),
            )
            server.secret = self.secret
            self.servers.append(server)

    def token(self, user: str, **claims: Any) -> str:
        return make_token(user, secret=self.secret, **claims)

    def start(self) -> "Cluster":
        for server in self.servers:
            try:
                server.start()
            except RuntimeError:
                server.start()  # a machine busy enough to miss the start-up wait: once more
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self._drop()

    def _drop(self) -> None:
        import pymongo

        client: Any = pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=3000)
        try:
            client.drop_database(self.database)
        except pymongo.errors.PyMongoError:
            pass
        finally:
            client.close()

    def output(self) -> str:
        return "\n".join("--- process %d ---\n%s" % (i, s.output()[-3000:]) for i, s in enumerate(self.servers))
