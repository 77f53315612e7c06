"""What the coordinator and its workers share through Redis: the keys of a cluster, and
the answers workers send back (an item, or why an article was skipped), as JSON.

Keys, under the cluster's name (SINA_CLUSTER):

- ``<name>:requests`` scrapy-redis's priority queue of article requests (pickled);
- ``<name>:dupefilter`` scrapy-redis's fingerprints, for this run only;
- ``<name>:results`` a list of JSON answers, one per article a worker handled;
- ``<name>:coordinator`` the coordinator's lease (redis-py's Lock);
- ``<name>:version`` the coordinator's project version (workers of another refuse);
- ``<name>:run`` the coordinator's run id while it runs;
- ``<name>:worker:<id>`` a worker's heartbeat: how many articles it holds (expires);
- ``<name>:rate:<host>`` the next free request slot of a host (crawler.cluster.budget).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import crawler
from crawler.hexo.body import Body
from crawler.items import POST_KINDS, FlashPost, Post, Stock

HEARTBEAT_SECONDS = 0.5  # how often a worker says how many articles it holds
HEARTBEAT_TTL = 3  # a worker not heard of for this long is gone (killed, or its machine)


def project_version() -> str:
    """The version workers and coordinator must agree on (queued requests are pickled).
    Read from the code, not from installed metadata: scrapyd runs the project from an egg
    that is not installed."""
    return crawler.__version__


@dataclass(frozen=True, slots=True)
class ClusterKeys:
    name: str

    @property
    def requests(self) -> str:
        return f"{self.name}:requests"

    @property
    def dupefilter(self) -> str:
        return f"{self.name}:dupefilter"

    @property
    def results(self) -> str:
        return f"{self.name}:results"

    @property
    def coordinator(self) -> str:
        return f"{self.name}:coordinator"

    @property
    def version(self) -> str:
        return f"{self.name}:version"

    @property
    def run(self) -> str:
        return f"{self.name}:run"

    @property
    def rate(self) -> str:
        return f"{self.name}:rate"

    def worker(self, worker_id: str) -> str:
        return f"{self.name}:worker:{worker_id}"

    @property
    def workers(self) -> str:
        """A pattern for SCAN: every worker's heartbeat."""
        return f"{self.name}:worker:*"


def item_answer(post: Post) -> bytes:
    """A worker's answer for an article it turned into a post."""
    updated = post.updated.isoformat() if post.updated is not None else None
    item = {"kind": post.kind, **dataclasses.asdict(post), "date": post.date.isoformat(), "updated": updated}
    return json.dumps({"kind": "item", "item": item}, ensure_ascii=False).encode("utf-8")


def _post(value: dict[str, Any]) -> Post:
    """The post a worker sent (crawler.items), every field as the worker built it."""
    cls = POST_KINDS[value["kind"]]
    fields = {field.name: value[field.name] for field in dataclasses.fields(cls)}
    body = fields["body"]
    fields["body"] = Body(
        html=body["html"],
        first_image=body["first_image"],
        image_urls=tuple(body["image_urls"]),
        image_spans=tuple((start, end, src) for start, end, src in body["image_spans"]),
        read_back_runs=body["read_back_runs"],
    )
    fields["date"] = datetime.fromisoformat(fields["date"])
    fields["updated"] = datetime.fromisoformat(fields["updated"]) if fields["updated"] is not None else None
    fields["keywords"] = tuple(fields["keywords"])
    fields["categories"] = tuple(fields["categories"])
    if cls is FlashPost:
        fields["tags"] = tuple(fields["tags"])
        fields["stocks"] = tuple(Stock(**stock) for stock in fields["stocks"])
    return cls(**fields)


def skipped_answer(publishid: str, section: str, reason: str, url: str, detail: str) -> bytes:
    """A worker's answer for an article it could not turn into an item."""
    answer = {"kind": "skipped", "publishid": publishid, "section": section, "reason": reason}
    answer |= {"url": url, "detail": detail}
    return json.dumps(answer, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Answer:
    publishid: str
    section: str
    item: Post | None  # None: skipped
    reason: str = ""
    url: str = ""
    detail: str = ""


def read_answer(data: bytes) -> Answer:
    """The answer a worker sent; ValueError when it is not one."""
    value: Any = json.loads(data)  # json.JSONDecodeError is a ValueError
    if not isinstance(value, dict):
        raise ValueError("an answer is a JSON object")
    if value.get("kind") == "item" and isinstance(value.get("item"), dict):
        try:
            post = _post(value["item"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a post: {type(exc).__name__}: {exc}") from exc
        answer = Answer(post.publishid, post.section, post)
    elif value.get("kind") == "skipped":
        answer = Answer(
            str(value.get("publishid") or ""),
            str(value.get("section") or ""),
            None,
            str(value.get("reason") or "unknown"),
            str(value.get("url") or ""),
            str(value.get("detail") or ""),
        )
    else:
        raise ValueError(f"unknown answer kind {value.get('kind')!r}")
    if not (answer.publishid and answer.section):
        raise ValueError("an answer names its article (publishid) and section")
    return answer
