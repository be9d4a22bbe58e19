"""Searches STAC APIs as a member's client would, with pystac-client, page after page.
Argument: a JSON list of jobs {"url": landing page, "token": bearer token or null,
"params": keyword arguments of Client.search}. Prints one JSON line per job:
{"job": index, "ids": [...], "pages": n} or {"job": index, "error": "..."}."""

import json
import sys
import warnings

warnings.filterwarnings("ignore")
from pystac_client import Client  # noqa: E402

for index, job in enumerate(json.loads(sys.argv[1])):
    headers = {"Authorization": f"Bearer {job['token']}"} if job.get("token") else None
    try:
        client = Client.open(job["url"], headers=headers)
        search = client.search(**job.get("params", {}))
        ids, pages = [], 0
        for page in search.pages():
            pages += 1
            ids += [item.id for item in page.items]
        print(json.dumps({"job": index, "ids": ids, "pages": pages}), flush=True)
    except Exception as e:  # the test reports it
        print(json.dumps({"job": index, "error": f"{type(e).__name__}: {e}"}), flush=True)
